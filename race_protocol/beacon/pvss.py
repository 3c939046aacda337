"""Publicly verifiable secret sharing of a beacon contribution (Schoenmakers' PVSS with
Feldman commitments), the threshold half of whitepaper Appendix B.

Notation: ``B`` the ed25519 base, ``H`` the second generator, participant ``p``'s
encryption key ``y_p = x_p·H``; share index ``i`` belongs to the participant holding it
(:mod:`race_protocol.beacon.units`).

Dealing (commit window). The dealer picks a secret ``s`` and a polynomial ``f`` of degree
``t-1`` with ``f(0) = s`` and publishes:

* commitments ``C_j = a_j·B`` to the coefficients (``C_0 = s·B`` commits to the secret);
* share commitments ``X_i = f(i)·B``;
* encrypted shares ``Y_i = f(i)·y_i``, each with a DLEQ proof that
  ``log_B(X_i) = log_{y_i}(Y_i)``.

Anyone checks a deal without decrypting anything: the ``X_i`` lie on the committed
polynomial (one random linear combination, :func:`check_consistency`), and each ``Y_i``
encrypts the same ``f(i)`` (:func:`check_encrypted_shares`).

Reveal: the dealer publishes ``s``; ``s·B == C_0`` checks it; its contribution is
``σ = s·H``. Recovery: recipient ``i`` publishes ``S_i = x^{-1}·Y_i = f(i)·H`` with a
DLEQ proof that ``log_H(y) = log_{S_i}(Y_i)``; ``t`` checked shares give
``σ = Σ λ_i·S_i = f(0)·H``, the same value the reveal gives.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from race_protocol.beacon.group import (
    BASE,
    ORDER,
    POINT_BYTES,
    SCALAR_BYTES,
    SECOND_GENERATOR,
    ZERO,
    BeaconCryptoError,
    DegenerateValue,
    Rng,
    base_mul,
    hash_to_scalar,
    linear_combination,
    mul,
    point,
    random_scalar,
    s_inv,
    scalar,
)
from race_protocol.beacon.proofs import PROOF_BYTES, prove_dleq, verify_dleq
from race_protocol.beacon.shamir import evaluate, lagrange_at_zero

DEAL_DOMAIN = b"race/v1/beacon/deal"
CONSISTENCY_DOMAIN = b"race/v1/beacon/deal-consistency"
MAX_SHARE_UNITS = 256
"""The most share indices a deal may carry (the chain's parameter bound)."""


class MalformedDeal(BeaconCryptoError):
    """A deal of the wrong shape, or with a bad encoding."""


class InconsistentDeal(BeaconCryptoError):
    """A deal whose commitments, share commitments and encrypted shares do not agree."""


class RevealMismatch(BeaconCryptoError):
    """A revealed secret that does not open the dealer's commitment ``C_0``."""


class NotEnoughShares(BeaconCryptoError):
    """Fewer checked shares than the threshold: nothing can be recovered."""


@dataclass(frozen=True)
class Deal:
    """What a dealer publishes: ``t`` commitments, and per share index a share commitment,
    an encrypted share and its DLEQ proof (index ``i`` at position ``i - 1``)."""

    commitments: tuple[bytes, ...]
    share_commitments: tuple[bytes, ...]
    encrypted_shares: tuple[bytes, ...]
    proofs: tuple[bytes, ...]

    @property
    def units(self) -> int:
        return len(self.encrypted_shares)


def deal_context(chain_id: str, round_id: int, dealer: str) -> bytes:
    """What binds a deal's proofs to one chain, round and dealer."""
    chain, who = chain_id.encode(), dealer.encode()
    return (len(chain).to_bytes(2, "big") + chain + round_id.to_bytes(8, "big")
            + len(who).to_bytes(2, "big") + who)


def share_context(context: bytes, index: int) -> bytes:
    """A deal's context narrowed to one share index."""
    return context + index.to_bytes(4, "big")


def contribution(secret: bytes) -> bytes:
    """``σ = s·H``: what a secret contributes to the output."""
    return mul(secret, SECOND_GENERATOR)


def make_deal(secret: bytes, threshold: int, recipient_keys: Sequence[bytes], context: bytes,
              rng: Rng = os.urandom) -> Deal:
    """Deal ``secret`` to the share indices ``1..len(recipient_keys)``; index ``i``'s share
    is encrypted to ``recipient_keys[i - 1]``. Every share must be nonzero, so a polynomial
    with a zero share is drawn again (probability about ``units / L``)."""
    scalar(secret, "secret", nonzero=True)
    if not 1 <= threshold <= len(recipient_keys):
        raise MalformedDeal(f"threshold {threshold} must be between 1 and the "
                            f"{len(recipient_keys)} share units")
    while True:
        coefficients = [secret] + [random_scalar(rng) for _ in range(threshold - 1)]
        values = [evaluate(coefficients, i) for i in range(1, len(recipient_keys) + 1)]
        if ZERO not in values:
            break
    shares_commitments = tuple(base_mul(v) for v in values)
    encrypted = tuple(mul(v, key) for v, key in zip(values, recipient_keys, strict=True))
    proofs = tuple(
        prove_dleq(v, BASE, key, share_context(context, i), rng)
        for i, (v, key) in enumerate(zip(values, recipient_keys, strict=True), start=1))
    return Deal(tuple(base_mul(a) for a in coefficients), shares_commitments, encrypted,
                proofs)


def check_shape(deal: Deal, threshold: int | None = None, units: int | None = None) -> None:
    """Counts and encodings: every point a valid main-subgroup point, every proof 64 bytes,
    and, when given, ``threshold`` commitments and ``units`` shares. Raises MalformedDeal."""
    check_counts(deal, threshold, units)
    try:
        for j, c in enumerate(deal.commitments):
            point(c, f"commitment {j}")
        for i, (x, y) in enumerate(zip(deal.share_commitments, deal.encrypted_shares,
                                       strict=True), start=1):
            point(x, f"share commitment {i}")
            point(y, f"encrypted share {i}")
    except BeaconCryptoError as bad:
        raise MalformedDeal(str(bad)) from None
    for i, proof in enumerate(deal.proofs, start=1):
        if len(proof) != PROOF_BYTES:
            raise MalformedDeal(f"proof {i} is {len(proof)} bytes, not {PROOF_BYTES}")


def check_counts(deal: Deal, threshold: int | None = None, units: int | None = None) -> None:
    """The counts alone (the cheap part of :func:`check_shape`). Raises MalformedDeal."""
    count = deal.units
    if not 1 <= count <= MAX_SHARE_UNITS:
        raise MalformedDeal(f"a deal carries 1 to {MAX_SHARE_UNITS} shares, not {count}")
    if len(deal.share_commitments) != count or len(deal.proofs) != count:
        raise MalformedDeal(
            f"{count} encrypted shares need as many share commitments and proofs, got "
            f"{len(deal.share_commitments)} and {len(deal.proofs)}")
    if not 1 <= len(deal.commitments) <= count:
        raise MalformedDeal(f"a deal of {count} shares carries 1 to {count} commitments, "
                            f"not {len(deal.commitments)}")
    if threshold is not None and len(deal.commitments) != threshold:
        raise MalformedDeal(f"the threshold is {threshold} shares, so a deal carries "
                            f"{threshold} commitments, not {len(deal.commitments)}")
    if units is not None and count != units:
        raise MalformedDeal(f"the round has {units} share units, so a deal carries {units} "
                            f"encrypted shares, not {count}")


def check_consistency(deal: Deal) -> None:
    """The share commitments lie on the committed polynomial: ``X_i = Σ_j i^j·C_j``.

    Checked as one random linear combination, ``Σ_i r_i·X_i == Σ_j (Σ_i r_i·i^j)·C_j``,
    with the ``r_i`` hashed from every commitment and share commitment (Fiat-Shamir): a
    deal with any wrong ``X_i`` passes with probability about ``1/L`` per hash the dealer
    can try. Costs ``units + t`` scalar multiplications instead of ``units·t``, and needs
    no chain state (the chain runs it with the stateless checks). Run :func:`check_shape`
    first. Raises InconsistentDeal.
    """
    seed = hash_to_scalar(CONSISTENCY_DOMAIN, *deal.commitments, *deal.share_commitments)
    weights = [hash_to_scalar(CONSISTENCY_DOMAIN, seed, i.to_bytes(4, "big"))
               for i in range(1, deal.units + 1)]
    # Σ_i r_i·i^j for every j: units·t multiply-adds of integers mod L, exact and the
    # same on every validator (integer arithmetic, not curve arithmetic; Python's is
    # several times faster here than a libsodium call per step).
    folded = [0] * len(deal.commitments)
    for i, r in enumerate(weights, start=1):
        power = int.from_bytes(r, "little")
        for j in range(len(folded)):
            folded[j] += power
            power = power * i % ORDER
    folded_scalars = [(value % ORDER).to_bytes(SCALAR_BYTES, "little") for value in folded]
    try:
        left = linear_combination(zip(weights, deal.share_commitments, strict=True))
        right = linear_combination(zip(folded_scalars, deal.commitments, strict=True))
    except DegenerateValue:
        raise InconsistentDeal("the share commitments do not lie on the committed "
                               "polynomial") from None
    if left != right:
        raise InconsistentDeal("the share commitments do not lie on the committed polynomial")


def check_encrypted_shares(deal: Deal, recipient_keys: Sequence[bytes], context: bytes) -> None:
    """Each encrypted share hides the committed value: ``log_B(X_i) = log_{y_i}(Y_i)``.
    Raises InconsistentDeal naming the first share whose proof fails."""
    if len(recipient_keys) != deal.units:
        raise MalformedDeal(f"{deal.units} shares for {len(recipient_keys)} share units")
    for i, (x, y, proof, key) in enumerate(zip(deal.share_commitments, deal.encrypted_shares,
                                               deal.proofs, recipient_keys, strict=True),
                                           start=1):
        if not verify_dleq(BASE, x, key, y, proof, share_context(context, i)):
            raise InconsistentDeal(f"encrypted share {i} does not match its share "
                                   "commitment (its DLEQ proof fails)")


def verify_deal(deal: Deal, threshold: int, recipient_keys: Sequence[bytes],
                context: bytes) -> None:
    """Every check of a deal: shape, consistency, encrypted shares."""
    check_shape(deal, threshold, len(recipient_keys))
    check_consistency(deal)
    check_encrypted_shares(deal, recipient_keys, context)


def open_commitment(secret: bytes, commitment: bytes) -> bytes:
    """The contribution ``s·H`` of a revealed secret, after checking ``s·B == C_0``.
    Raises RevealMismatch."""
    try:
        scalar(secret, "secret", nonzero=True)
    except BeaconCryptoError as bad:
        raise RevealMismatch(str(bad)) from None
    if base_mul(secret) != commitment:
        raise RevealMismatch("s·B is not the dealer's commitment C_0")
    return contribution(secret)


def decrypt_share(private_key: bytes, encrypted_share: bytes, context: bytes,
                  rng: Rng = os.urandom) -> tuple[bytes, bytes]:
    """``(S_i, proof)``: the decrypted share ``x^{-1}·Y_i`` and a DLEQ proof that
    ``log_H(y) = log_{S_i}(Y_i)``, for the share context of index ``i``."""
    share = mul(s_inv(private_key), encrypted_share)
    return share, prove_dleq(private_key, SECOND_GENERATOR, share, context, rng)


def verify_share(public_key: bytes, encrypted_share: bytes, share: bytes, proof: bytes,
                 context: bytes) -> bool:
    """True when ``share`` is the decryption of ``encrypted_share`` under ``public_key``."""
    try:
        point(share, "decrypted share")
    except BeaconCryptoError:
        return False
    return verify_dleq(SECOND_GENERATOR, public_key, share, encrypted_share, proof, context)


def recover_contribution(shares: Mapping[int, bytes], threshold: int) -> bytes:
    """``σ = f(0)·H`` from checked decrypted shares ``{i: f(i)·H}``: the ``threshold`` with
    the lowest indices are interpolated. Raises NotEnoughShares below the threshold."""
    if threshold < 1 or len(shares) < threshold:
        raise NotEnoughShares(f"{len(shares)} shares, {threshold} needed")
    chosen = sorted(shares)[:threshold]
    coefficients = lagrange_at_zero(chosen)
    return linear_combination((coefficients[i], shares[i]) for i in chosen)


def share_bytes(units: int, threshold: int) -> int:
    """A deal's payload in bytes: commitments, share commitments, encrypted shares, proofs."""
    return threshold * POINT_BYTES + units * (2 * POINT_BYTES + PROOF_BYTES)


def keys_by_index(holders: Iterable[tuple[int, int, bytes]]) -> list[bytes]:
    """The encryption key of each share index ``1..total``, from ``(first_index, units,
    public_key)`` of every participant; the ranges must tile ``1..total`` exactly."""
    keys: list[bytes] = []
    for first_index, units, public_key in sorted(holders):
        if first_index != len(keys) + 1 or units < 1:
            raise MalformedDeal("the participants' share indices do not tile 1..total")
        keys.extend([public_key] * units)
    return keys
