"""The beacon's cryptography (race_protocol.beacon): the group's input checks, the proofs,
Shamir sharing, and PVSS dealing, reveal and recovery."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings as sodium

from race_protocol.beacon import group, proofs, pvss, shamir
from race_protocol.beacon.keys import EncryptionKey, verify_key_possession
from tests.beacon.rng import seeded

CONTEXT = pvss.deal_context("race-test", 1, "race1dealer")
FAST = settings(max_examples=25, deadline=None)


def keys_for(count: int, seed: int = 1) -> list[EncryptionKey]:
    rng = seeded(seed)
    return [EncryptionKey.generate(rng) for _ in range(count)]


def dealt(units: int, threshold: int, seed: int = 1
          ) -> tuple[bytes, pvss.Deal, list[EncryptionKey]]:
    rng = seeded(seed)
    keys = keys_for(units, seed)
    secret = group.random_scalar(rng)
    deal = pvss.make_deal(secret, threshold, [k.public_key for k in keys], CONTEXT, rng)
    return secret, deal, keys


def decrypted(deal: pvss.Deal, keys: list[EncryptionKey], indices: list[int]
              ) -> dict[int, bytes]:
    shares = {}
    for i in indices:
        share, proof = pvss.decrypt_share(keys[i - 1].private_key, deal.encrypted_shares[i - 1],
                                          pvss.share_context(CONTEXT, i))
        assert pvss.verify_share(keys[i - 1].public_key, deal.encrypted_shares[i - 1], share,
                                 proof, pvss.share_context(CONTEXT, i))
        shares[i] = share
    return shares


# --- the group ---------------------------------------------------------------------------

def test_the_second_generator_is_a_main_subgroup_point_other_than_the_base() -> None:
    assert group.point(group.SECOND_GENERATOR) == group.SECOND_GENERATOR
    assert group.SECOND_GENERATOR != group.BASE


@pytest.mark.parametrize("encoded", [
    group.IDENTITY,                                   # the neutral element
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # order 2
    bytes(32),                                        # a small-order point
    b"\x01" * 31,                                     # wrong length
])
def test_points_outside_the_prime_order_subgroup_are_refused(encoded: bytes) -> None:
    with pytest.raises(group.InvalidPoint):
        group.point(encoded)


def test_a_point_with_a_small_order_component_is_refused() -> None:
    order_two = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
    mixed = sodium.crypto_core_ed25519_add(group.BASE, order_two)
    with pytest.raises(group.InvalidPoint):
        group.point(mixed)


def test_scalars_must_be_reduced() -> None:
    with pytest.raises(group.InvalidScalar):
        group.scalar(group.ORDER.to_bytes(32, "little"))
    with pytest.raises(group.InvalidScalar):
        group.scalar(group.ZERO, nonzero=True)


def test_multiplying_to_the_identity_is_a_degenerate_value_not_a_crash() -> None:
    with pytest.raises(group.DegenerateValue):
        group.base_mul(group.ZERO)
    with pytest.raises(group.DegenerateValue):
        group.mul(group.ONE, group.IDENTITY)


# --- proofs ------------------------------------------------------------------------------

def test_a_dleq_proof_verifies_only_for_its_statement_and_context() -> None:
    x = group.random_scalar(seeded(2))
    g2 = group.SECOND_GENERATOR
    proof = proofs.prove_dleq(x, group.BASE, g2, b"ctx", seeded(3))
    p1, p2 = group.base_mul(x), group.mul(x, g2)
    assert proofs.verify_dleq(group.BASE, p1, g2, p2, proof, b"ctx")
    assert not proofs.verify_dleq(group.BASE, p1, g2, p2, proof, b"other context")
    other = group.mul(group.random_scalar(seeded(4)), g2)
    assert not proofs.verify_dleq(group.BASE, p1, g2, other, proof, b"ctx")
    assert not proofs.verify_dleq(group.BASE, p1, g2, p2, proof[:32] + bytes(32), b"ctx")
    assert not proofs.verify_dleq(group.BASE, p1, g2, p2, b"short", b"ctx")


def test_a_key_proof_of_possession_is_bound_to_chain_and_operator() -> None:
    key = EncryptionKey.generate(seeded(5))
    proof = key.proof_of_possession("race-test", "race1alice", seeded(6))
    assert verify_key_possession(key.public_key, proof, "race-test", "race1alice")
    assert not verify_key_possession(key.public_key, proof, "race-test", "race1mallory")
    assert not verify_key_possession(key.public_key, proof, "other-chain", "race1alice")


# --- Shamir sharing ----------------------------------------------------------------------

@FAST
@given(threshold=st.integers(1, 8), extra=st.integers(0, 5), data=st.data())
def test_any_threshold_of_shares_interpolates_the_secret(threshold: int, extra: int,
                                                         data: st.DataObject) -> None:
    rng = seeded(data.draw(st.integers(0, 10**6)))
    coefficients = [group.random_scalar(rng) for _ in range(threshold)]
    chosen = data.draw(st.lists(st.integers(1, threshold + extra), min_size=threshold,
                                max_size=threshold, unique=True))
    shares = {i: shamir.evaluate(coefficients, i) for i in chosen}
    assert shamir.interpolate_at_zero(shares) == coefficients[0]


@FAST
@given(threshold=st.integers(2, 8), seed=st.integers(0, 10**6))
def test_fewer_than_threshold_shares_fit_every_secret_equally(threshold: int, seed: int) -> None:
    """t-1 shares say nothing about the secret: for any candidate there is a polynomial of
    the same degree through it and the shares."""
    rng = seeded(seed)
    coefficients = [group.random_scalar(rng) for _ in range(threshold)]
    known = {i: shamir.evaluate(coefficients, i) for i in range(1, threshold)}
    candidate = group.random_scalar(rng)
    # The polynomial through (0, candidate) and the known shares, evaluated at each share
    # index, reproduces every share: the shares cannot rule the candidate out.
    points = {0: candidate, **known}
    for i, value in known.items():
        assert _interpolate_at(points, i) == value
    assert _interpolate_at(points, 0) == candidate


def _interpolate_at(points: dict[int, bytes], x: int) -> bytes:
    """Lagrange evaluation at ``x`` through ``points`` (a test oracle in plain integers)."""
    total = 0
    for i, value in points.items():
        term = int.from_bytes(value, "little")
        for j in points:
            if j != i:
                term = term * (x - j) * pow(i - j, -1, group.ORDER) % group.ORDER
        total += term
    return (total % group.ORDER).to_bytes(32, "little")


# --- PVSS --------------------------------------------------------------------------------

@FAST
@given(units=st.integers(1, 12), data=st.data())
def test_recovery_from_any_threshold_of_shares_equals_the_reveal(units: int,
                                                                 data: st.DataObject) -> None:
    threshold = data.draw(st.integers(1, units))
    secret, deal, keys = dealt(units, threshold, data.draw(st.integers(0, 10**6)))
    pvss.verify_deal(deal, threshold, [k.public_key for k in keys], CONTEXT)
    chosen = data.draw(st.lists(st.integers(1, units), min_size=threshold,
                                max_size=threshold, unique=True))
    recovered = pvss.recover_contribution(decrypted(deal, keys, chosen), threshold)
    assert recovered == pvss.open_commitment(secret, deal.commitments[0])
    assert recovered == pvss.contribution(secret)


@FAST
@given(units=st.integers(2, 10), data=st.data())
def test_fewer_than_threshold_shares_recover_nothing(units: int, data: st.DataObject) -> None:
    threshold = data.draw(st.integers(2, units))
    secret, deal, keys = dealt(units, threshold, data.draw(st.integers(0, 10**6)))
    chosen = data.draw(st.lists(st.integers(1, units), min_size=threshold - 1,
                                max_size=threshold - 1, unique=True))
    shares = decrypted(deal, keys, chosen)
    with pytest.raises(pvss.NotEnoughShares):
        pvss.recover_contribution(shares, threshold)
    # Interpolating the t-1 shares as if they were enough gives a wrong value.
    assert pvss.recover_contribution(shares, threshold - 1) != pvss.contribution(secret)


def test_a_tampered_encrypted_share_is_an_inconsistent_deal() -> None:
    _, deal, keys = dealt(6, 4)
    forged = list(deal.encrypted_shares)
    forged[2] = group.mul(group.random_scalar(seeded(9)), keys[2].public_key)
    bad = replace(deal, encrypted_shares=tuple(forged))
    pvss.check_consistency(bad)  # the public commitments still agree with each other
    with pytest.raises(pvss.InconsistentDeal, match="encrypted share 3"):
        pvss.check_encrypted_shares(bad, [k.public_key for k in keys], CONTEXT)


def test_share_commitments_off_the_committed_polynomial_are_an_inconsistent_deal() -> None:
    _, deal, _ = dealt(6, 4)
    moved = list(deal.share_commitments)
    moved[0], moved[1] = moved[1], moved[0]
    with pytest.raises(pvss.InconsistentDeal):
        pvss.check_consistency(replace(deal, share_commitments=tuple(moved)))


def test_a_deal_of_higher_degree_than_its_commitments_is_an_inconsistent_deal() -> None:
    """A dealer cannot commit to t coefficients and share a polynomial of degree t."""
    _, wide, _ = dealt(6, 5)
    narrow = replace(wide, commitments=wide.commitments[:4])
    with pytest.raises(pvss.InconsistentDeal):
        pvss.check_consistency(narrow)


def test_a_deal_of_the_wrong_shape_is_malformed() -> None:
    _, deal, _ = dealt(6, 4)
    with pytest.raises(pvss.MalformedDeal, match="4 commitments"):
        pvss.check_shape(replace(deal, commitments=deal.commitments[:3]), threshold=4)
    with pytest.raises(pvss.MalformedDeal):
        pvss.check_shape(replace(deal, proofs=deal.proofs[:5]))
    with pytest.raises(pvss.MalformedDeal):
        pvss.check_shape(replace(deal, commitments=(group.IDENTITY, *deal.commitments[1:])))


def test_a_reveal_must_open_the_commitment() -> None:
    secret, deal, _ = dealt(3, 2)
    with pytest.raises(pvss.RevealMismatch):
        pvss.open_commitment(group.s_add(secret, group.ONE), deal.commitments[0])
    with pytest.raises(pvss.RevealMismatch):
        pvss.open_commitment(group.ORDER.to_bytes(32, "little"), deal.commitments[0])


def test_a_forged_decrypted_share_does_not_verify() -> None:
    _, deal, keys = dealt(4, 3)
    context = pvss.share_context(CONTEXT, 1)
    share, proof = pvss.decrypt_share(keys[0].private_key, deal.encrypted_shares[0], context)
    forged = group.add(share, group.SECOND_GENERATOR)
    assert not pvss.verify_share(keys[0].public_key, deal.encrypted_shares[0], forged, proof,
                                 context)
    # Another participant's key cannot vouch for this index's share.
    assert not pvss.verify_share(keys[1].public_key, deal.encrypted_shares[0], share, proof,
                                 context)


def test_the_second_generator_is_the_documented_hash_to_curve() -> None:
    expected = sodium.crypto_core_ed25519_from_uniform(
        hashlib.sha512(b"race/v1/beacon/second-generator").digest()[:32])
    assert expected == group.SECOND_GENERATOR
