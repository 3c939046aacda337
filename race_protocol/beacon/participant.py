"""A participant's side of a round, as ``race.v1`` messages: what the node agent (and the
bench and tests) sign and send. Pure: the caller supplies the round's facts from the
chain's queries and keeps the secret between the commit and reveal windows.

1. :func:`register_key_message` once (and again to rotate the key).
2. Commit window: :func:`deal_message` with a fresh secret (:func:`new_secret`).
3. Reveal window: :func:`reveal_message` with the same secret.
4. Recovery window: :func:`recover_message` for every dealer that did not reveal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from race_protocol.beacon.group import Rng, random_scalar
from race_protocol.beacon.keys import EncryptionKey
from race_protocol.beacon.pvss import (
    deal_context,
    decrypt_share,
    keys_by_index,
    make_deal,
    share_context,
)
from race_protocol.gen.race.v1 import beacon_pb2


@dataclass(frozen=True)
class Holder:
    """A participant's share indices and key, as the round query lists them."""

    address: str
    first_index: int
    units: int
    public_key: bytes

    @property
    def indices(self) -> range:
        return range(self.first_index, self.first_index + self.units)


def new_secret(rng: Rng = os.urandom) -> bytes:
    """A fresh nonzero secret for one round's deal."""
    return random_scalar(rng)


def register_key_message(key: EncryptionKey, chain_id: str, operator: str,
                         rng: Rng = os.urandom) -> beacon_pb2.MsgRegisterBeaconKey:
    return beacon_pb2.MsgRegisterBeaconKey(
        operator=operator, public_key=key.public_key,
        proof=key.proof_of_possession(chain_id, operator, rng))


def deal_message(secret: bytes, chain_id: str, round_id: int, dealer: str, threshold: int,
                 holders: Sequence[Holder], rng: Rng = os.urandom) -> beacon_pb2.MsgBeaconDeal:
    """The deal of ``secret`` to every share index of the round."""
    recipients = keys_by_index((h.first_index, h.units, h.public_key) for h in holders)
    deal = make_deal(secret, threshold, recipients, deal_context(chain_id, round_id, dealer),
                     rng)
    return beacon_pb2.MsgBeaconDeal(
        dealer=dealer, round=round_id, commitments=deal.commitments,
        share_commitments=deal.share_commitments, encrypted_shares=deal.encrypted_shares,
        proofs=deal.proofs)


def reveal_message(secret: bytes, round_id: int, dealer: str) -> beacon_pb2.MsgBeaconReveal:
    return beacon_pb2.MsgBeaconReveal(dealer=dealer, round=round_id, secret=secret)


def recover_message(key: EncryptionKey, chain_id: str, round_id: int, holder: Holder,
                    withheld: Mapping[str, Sequence[bytes]],
                    rng: Rng = os.urandom) -> beacon_pb2.MsgBeaconRecover:
    """Decrypted shares of each withheld secret: ``withheld`` maps a dealer to its deal's
    encrypted shares (index ``i`` at position ``i - 1``)."""
    entries = []
    for dealer in sorted(withheld):
        context = deal_context(chain_id, round_id, dealer)
        shares, proofs = [], []
        for index in holder.indices:
            share, proof = decrypt_share(key.private_key, withheld[dealer][index - 1],
                                         share_context(context, index), rng)
            shares.append(share)
            proofs.append(proof)
        entries.append(beacon_pb2.BeaconDecryptedShares(dealer=dealer, shares=shares,
                                                        proofs=proofs))
    return beacon_pb2.MsgBeaconRecover(participant=holder.address, round=round_id,
                                       dealers=entries)
