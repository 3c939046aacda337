"""Zero-knowledge proofs of the beacon: Chaum-Pedersen DLEQ and Schnorr, made
non-interactive with Fiat-Shamir (SHA-512 reduced mod L).

* :func:`prove_dleq` shows ``log_G1(P1) == log_G2(P2)`` without revealing the log. A dealer
  proves each encrypted share ``Y_i = f(i)·y_i`` matches the public ``X_i = f(i)·B``; a
  recipient proves its decrypted share ``S_i`` satisfies ``Y_i = x·S_i`` for its key
  ``y = x·H``.
* :func:`prove_possession` (Schnorr) shows the registrant knows ``x`` in ``y = x·H``.

Every challenge hashes a domain tag, every point of the statement and a caller's
``context`` (chain id, round, dealer, index), so a proof made for one statement never
verifies for another. A proof is ``c || z`` (64 bytes).
"""

from __future__ import annotations

import os

from race_protocol.beacon.group import (
    SCALAR_BYTES,
    BeaconCryptoError,
    Rng,
    hash_to_scalar,
    mul,
    random_scalar,
    s_add,
    s_mul,
    scalar,
    sub,
)

PROOF_BYTES = 2 * SCALAR_BYTES
DLEQ_DOMAIN = b"race/v1/beacon/dleq"
POSSESSION_DOMAIN = b"race/v1/beacon/key-possession"


def _split(proof: bytes) -> tuple[bytes, bytes]:
    if len(proof) != PROOF_BYTES:
        raise BeaconCryptoError(f"a proof is {PROOF_BYTES} bytes, not {len(proof)}")
    return (scalar(proof[:SCALAR_BYTES], "proof challenge", nonzero=True),
            scalar(proof[SCALAR_BYTES:], "proof response", nonzero=True))


def _dleq_challenge(g1: bytes, p1: bytes, g2: bytes, p2: bytes, a1: bytes, a2: bytes,
                    context: bytes) -> bytes:
    return hash_to_scalar(DLEQ_DOMAIN, g1, p1, g2, p2, a1, a2, context)


def prove_dleq(x: bytes, g1: bytes, g2: bytes, context: bytes,
               rng: Rng = os.urandom) -> bytes:
    """A proof that ``x·g1`` and ``x·g2`` share the log ``x`` (Chaum-Pedersen)."""
    p1, p2 = mul(x, g1), mul(x, g2)
    while True:
        w = random_scalar(rng)
        a1, a2 = mul(w, g1), mul(w, g2)
        c = _dleq_challenge(g1, p1, g2, p2, a1, a2, context)
        z = s_add(w, s_mul(c, x))
        if c != bytes(SCALAR_BYTES) and z != bytes(SCALAR_BYTES):
            return c + z


def verify_dleq(g1: bytes, p1: bytes, g2: bytes, p2: bytes, proof: bytes,
                context: bytes) -> bool:
    """True when ``proof`` shows ``log_g1(p1) == log_g2(p2)`` under ``context``.

    The points must already be valid main-subgroup points (:func:`~group.point`); a
    malformed proof or a degenerate value is a proof that does not verify.
    """
    try:
        c, z = _split(proof)
        a1 = sub(mul(z, g1), mul(c, p1))
        a2 = sub(mul(z, g2), mul(c, p2))
    except BeaconCryptoError:
        return False
    return _dleq_challenge(g1, p1, g2, p2, a1, a2, context) == c


def _possession_challenge(generator: bytes, public_key: bytes, commitment: bytes,
                          context: bytes) -> bytes:
    return hash_to_scalar(POSSESSION_DOMAIN, generator, public_key, commitment, context)


def prove_possession(x: bytes, generator: bytes, context: bytes,
                     rng: Rng = os.urandom) -> bytes:
    """A Schnorr proof of knowledge of ``x`` in ``x·generator``, bound to ``context``."""
    public_key = mul(x, generator)
    while True:
        w = random_scalar(rng)
        commitment = mul(w, generator)
        c = _possession_challenge(generator, public_key, commitment, context)
        z = s_add(w, s_mul(c, x))
        if c != bytes(SCALAR_BYTES) and z != bytes(SCALAR_BYTES):
            return c + z


def verify_possession(generator: bytes, public_key: bytes, proof: bytes,
                      context: bytes) -> bool:
    """True when ``proof`` shows knowledge of ``log_generator(public_key)`` under
    ``context``."""
    try:
        c, z = _split(proof)
        commitment = sub(mul(z, generator), mul(c, public_key))
    except BeaconCryptoError:
        return False
    return _possession_challenge(generator, public_key, commitment, context) == c
