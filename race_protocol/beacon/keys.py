"""A participant's beacon encryption key: ``y = x·H``, registered on chain with a Schnorr
proof of possession bound to the chain and the operator account that registers it (so a
key cannot be copied to another account or chain)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from race_protocol.beacon.group import SECOND_GENERATOR, Rng, mul, random_scalar, scalar
from race_protocol.beacon.proofs import prove_possession, verify_possession


def possession_context(chain_id: str, operator: str) -> bytes:
    """What a key's proof of possession is bound to."""
    chain, who = chain_id.encode(), operator.encode()
    return len(chain).to_bytes(2, "big") + chain + len(who).to_bytes(2, "big") + who


@dataclass(frozen=True)
class EncryptionKey:
    """A participant's key pair; ``private_key`` never leaves the node home."""

    private_key: bytes
    public_key: bytes

    @classmethod
    def generate(cls, rng: Rng = os.urandom) -> EncryptionKey:
        return cls.from_private(random_scalar(rng))

    @classmethod
    def from_private(cls, private_key: bytes) -> EncryptionKey:
        x = scalar(private_key, "beacon private key", nonzero=True)
        return cls(x, mul(x, SECOND_GENERATOR))

    def proof_of_possession(self, chain_id: str, operator: str,
                            rng: Rng = os.urandom) -> bytes:
        """The proof ``MsgRegisterBeaconKey`` carries."""
        return prove_possession(self.private_key, SECOND_GENERATOR,
                                possession_context(chain_id, operator), rng)


def verify_key_possession(public_key: bytes, proof: bytes, chain_id: str,
                          operator: str) -> bool:
    """True when ``proof`` shows ``operator`` knows the private key of ``public_key``
    (which must already be a valid point)."""
    return verify_possession(SECOND_GENERATOR, public_key, proof,
                             possession_context(chain_id, operator))
