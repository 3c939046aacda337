"""The beacon's messages (whitepaper Appendix B; docs/beacon.md, "The protocol").

Each is checked statelessly first (encodings, counts, and a deal's consistency, which
needs no state and is cached with the tx's other stateless checks), then against the
round in progress. Every refusal has its own code; a refused message changes nothing.

* ``MsgRegisterBeaconKey``: an operator's encryption key, with its proof of possession.
* ``MsgBeaconDeal``: a participant's deal, in the commit window.
* ``MsgBeaconReveal``: a dealer's secret, in the reveal window.
* ``MsgBeaconRecover``: a participant's decrypted shares of withheld secrets, in the
  recovery window.
"""

from __future__ import annotations

import hashlib

from abci_app.core.context import Context
from abci_app.modules.beacon import keeper
from abci_app.modules.beacon.errors import (
    ALREADY_DEALT,
    ALREADY_REVEALED,
    BAD_KEY_PROOF,
    FORGED_SHARE,
    INCONSISTENT_DEAL,
    INVALID_ADDRESS,
    INVALID_KEY,
    MALFORMED_DEAL,
    MALFORMED_SHARES,
    NO_DEAL,
    NOT_A_PARTICIPANT,
    NOT_AN_OPERATOR,
    NOTHING_TO_RECOVER,
    REVEAL_MISMATCH,
    SHARES_ALREADY_POSTED,
    SIGNER_MISMATCH,
    WRONG_ROUND,
    WRONG_WINDOW,
)
from abci_app.tx import is_valid_address
from race_protocol.beacon.group import BeaconCryptoError, point
from race_protocol.beacon.keys import verify_key_possession
from race_protocol.beacon.proofs import PROOF_BYTES
from race_protocol.beacon.pvss import (
    MAX_SHARE_UNITS,
    Deal,
    InconsistentDeal,
    MalformedDeal,
    RevealMismatch,
    check_consistency,
    check_counts,
    check_encrypted_shares,
    check_shape,
    deal_context,
    open_commitment,
    share_context,
    verify_share,
)
from race_protocol.gen.race.v1 import beacon_pb2


def _check_address(address: str, field: str) -> None:
    if not is_valid_address(address):
        raise INVALID_ADDRESS(f"{field} {address!r} is not a bech32 race1... address")


def _require_signer(ctx: Context, address: str, field: str) -> None:
    if address != ctx.signer:
        raise SIGNER_MISMATCH(f"{field} {address} must be the tx signer {ctx.signer}")


def _round_in_window(ctx: Context, round_id: int, window: str) -> keeper.Round:
    """The round in progress, if it is ``round_id`` and this block is in ``window``."""
    entry = keeper.current_round(ctx)
    if entry is None or entry.round != round_id:
        now = "no round is open" if entry is None else f"round {entry.round} is in progress"
        raise WRONG_ROUND(f"round {round_id} is not in progress: {now}")
    first, last = entry.window(window)
    if not first <= ctx.block.height <= last:
        raise WRONG_WINDOW(f"round {round_id}'s {window} window is blocks {first}-{last}; "
                           f"this is block {ctx.block.height}")
    return entry


def _participant(ctx: Context, entry: keeper.Round, address: str) -> keeper.Participant:
    member = keeper.get_participant(ctx, entry.round, address)
    if member is None:
        raise NOT_A_PARTICIPANT(
            f"{address} is not a participant of round {entry.round} (participants are the "
            "heaviest nodes with a registered beacon key when the round opened)")
    return member


# --- MsgRegisterBeaconKey --------------------------------------------------------------------

def validate_basic_register_key(msg: beacon_pb2.MsgRegisterBeaconKey) -> None:
    """A valid operator address, a main-subgroup point and a 64-byte proof."""
    _check_address(msg.operator, "operator")
    try:
        point(msg.public_key, "public_key")
    except BeaconCryptoError as bad:
        raise INVALID_KEY(str(bad)) from None
    if len(msg.proof) != PROOF_BYTES:
        raise BAD_KEY_PROOF(f"proof is {len(msg.proof)} bytes, not {PROOF_BYTES}")


def handle_register_key(ctx: Context, msg: beacon_pb2.MsgRegisterBeaconKey) -> None:
    """Bind the key to the signer, which must operate a validator with voting weight; the
    proof shows the signer knows the private key on this chain."""
    _require_signer(ctx, msg.operator, "operator")
    if not keeper.operates_validator(ctx, msg.operator):
        raise NOT_AN_OPERATOR(
            f"{msg.operator} operates no validator with voting weight; a beacon key is "
            "registered by the account linked to a validator")
    if not verify_key_possession(msg.public_key, msg.proof, ctx.block.chain_id, msg.operator):
        raise BAD_KEY_PROOF(
            f"the proof does not show {msg.operator} knows the key's private half on chain "
            f"{ctx.block.chain_id!r}")
    replaced = keeper.put_key(ctx, msg.operator, msg.public_key, msg.proof)
    ctx.emit("beacon_key", operator=msg.operator, public_key=msg.public_key.hex(),
             replaced=str(replaced).lower())


# --- MsgBeaconDeal ---------------------------------------------------------------------------

# Deals whose encrypted shares verified, by a digest of everything the check reads (the
# chain, round and dealer, the recipients' keys, the deal's points and proofs). The verdict
# is a pure function of that digest, so a deal checked in CheckTx is not checked again in
# FinalizeBlock, and every validator still reaches the same verdict (like the signature
# cache of the stateless checks).
_VERIFIED_DEALS: set[bytes] = set()
VERIFIED_DEALS_LIMIT = 4096


def _deal_digest(deal: Deal, keys: list[bytes], context: bytes) -> bytes:
    digest = hashlib.sha256(b"race/v1/beacon/verified-deal")
    for part in (context, *keys, *deal.share_commitments, *deal.encrypted_shares,
                 *deal.proofs):
        digest.update(len(part).to_bytes(4, "big") + part)
    return digest.digest()


def _deal_of(msg: beacon_pb2.MsgBeaconDeal) -> Deal:
    return Deal(tuple(msg.commitments), tuple(msg.share_commitments),
                tuple(msg.encrypted_shares), tuple(msg.proofs))


def validate_basic_deal(msg: beacon_pb2.MsgBeaconDeal) -> None:
    """Shape and encodings, then that the share commitments lie on the committed
    polynomial (needs no state)."""
    _check_address(msg.dealer, "dealer")
    if msg.round < 1:
        raise WRONG_ROUND("round must be at least 1")
    deal = _deal_of(msg)
    try:
        check_shape(deal)
    except MalformedDeal as bad:
        raise MALFORMED_DEAL(str(bad)) from None
    try:
        check_consistency(deal)
    except InconsistentDeal as bad:
        raise INCONSISTENT_DEAL(str(bad)) from None


def handle_deal(ctx: Context, msg: beacon_pb2.MsgBeaconDeal) -> None:
    """Accept a participant's one deal in the commit window, once every encrypted share is
    shown to hide the committed value for the participant that holds its index."""
    _require_signer(ctx, msg.dealer, "dealer")
    entry = _round_in_window(ctx, msg.round, keeper.COMMIT_WINDOW)
    dealer = _participant(ctx, entry, msg.dealer)
    if dealer.status != keeper.AWAITING_DEAL:
        raise ALREADY_DEALT(f"{msg.dealer} already dealt in round {entry.round}")
    deal = _deal_of(msg)
    try:
        # The encodings passed the stateless checks; the round fixes the counts.
        check_counts(deal, entry.threshold_units, entry.total_units)
    except MalformedDeal as bad:
        raise MALFORMED_DEAL(str(bad)) from None
    keys = keeper.recipient_keys(keeper.participants(ctx, entry.round))
    context = deal_context(ctx.block.chain_id, entry.round, msg.dealer)
    verdict = _deal_digest(deal, keys, context)
    if verdict not in _VERIFIED_DEALS:
        try:
            check_encrypted_shares(deal, keys, context)
        except InconsistentDeal as bad:
            raise INCONSISTENT_DEAL(str(bad)) from None
        if len(_VERIFIED_DEALS) >= VERIFIED_DEALS_LIMIT:
            _VERIFIED_DEALS.clear()
        _VERIFIED_DEALS.add(verdict)
    keeper.record_deal(ctx, entry, dealer, deal.commitments, deal.encrypted_shares)


# --- MsgBeaconReveal -------------------------------------------------------------------------

def validate_basic_reveal(msg: beacon_pb2.MsgBeaconReveal) -> None:
    """A valid dealer address, a round, and a 32-byte secret."""
    _check_address(msg.dealer, "dealer")
    if msg.round < 1:
        raise WRONG_ROUND("round must be at least 1")
    if len(msg.secret) != 32:
        raise REVEAL_MISMATCH(f"secret is {len(msg.secret)} bytes, not 32")


def handle_reveal(ctx: Context, msg: beacon_pb2.MsgBeaconReveal) -> None:
    """Accept a dealer's secret in the reveal window when ``s·B`` is its commitment
    ``C_0`` (the timed reveal of Appendix B)."""
    _require_signer(ctx, msg.dealer, "dealer")
    entry = _round_in_window(ctx, msg.round, keeper.REVEAL_WINDOW)
    dealer = _participant(ctx, entry, msg.dealer)
    if dealer.status == keeper.REVEALED:
        raise ALREADY_REVEALED(f"{msg.dealer} already revealed in round {entry.round}")
    deal = keeper.get_deal(ctx, entry.round, msg.dealer)
    if deal is None:
        raise NO_DEAL(f"{msg.dealer} has no accepted deal in round {entry.round}, so it "
                      "has nothing to reveal")
    try:
        contribution = open_commitment(msg.secret, deal.commitments[0])
    except RevealMismatch as bad:
        raise REVEAL_MISMATCH(f"{bad}; reveal the secret of the round-{entry.round} "
                              "deal") from None
    keeper.record_reveal(ctx, entry, dealer, contribution)


# --- MsgBeaconRecover ------------------------------------------------------------------------

def validate_basic_recover(msg: beacon_pb2.MsgBeaconRecover) -> None:
    """Addresses, one entry per dealer, and per entry as many 64-byte proofs as valid
    share points."""
    _check_address(msg.participant, "participant")
    if msg.round < 1:
        raise WRONG_ROUND("round must be at least 1")
    if not 1 <= len(msg.dealers) <= MAX_SHARE_UNITS:
        raise MALFORMED_SHARES(f"post shares for 1 to {MAX_SHARE_UNITS} dealers, "
                               f"not {len(msg.dealers)}")
    seen: set[str] = set()
    for entry in msg.dealers:
        _check_address(entry.dealer, "dealer")
        if entry.dealer in seen:
            raise MALFORMED_SHARES(f"dealer {entry.dealer} appears twice")
        seen.add(entry.dealer)
        if not 1 <= len(entry.shares) <= MAX_SHARE_UNITS:
            raise MALFORMED_SHARES(f"{len(entry.shares)} shares for {entry.dealer}; a "
                                   f"participant holds 1 to {MAX_SHARE_UNITS}")
        if len(entry.proofs) != len(entry.shares):
            raise MALFORMED_SHARES(f"{len(entry.shares)} shares for {entry.dealer} need as "
                                   f"many proofs, got {len(entry.proofs)}")
        for k, (share, proof) in enumerate(zip(entry.shares, entry.proofs, strict=True)):
            try:
                point(share, f"share {k} for {entry.dealer}")
            except BeaconCryptoError as bad:
                raise MALFORMED_SHARES(str(bad)) from None
            if len(proof) != PROOF_BYTES:
                raise MALFORMED_SHARES(f"proof {k} for {entry.dealer} is {len(proof)} bytes, "
                                       f"not {PROOF_BYTES}")


def handle_recover(ctx: Context, msg: beacon_pb2.MsgBeaconRecover) -> None:
    """Keep a participant's checked shares of withheld secrets; each secret is recovered as
    soon as the threshold of shares is in. An entry for a secret already recovered (by
    others' shares in the same block, say) is skipped."""
    _require_signer(ctx, msg.participant, "participant")
    entry = _round_in_window(ctx, msg.round, keeper.RECOVERY_WINDOW)
    poster = _participant(ctx, entry, msg.participant)
    for posted in msg.dealers:
        dealer = keeper.get_participant(ctx, entry.round, posted.dealer)
        if dealer is None or dealer.status == keeper.EXCLUDED:
            raise NO_DEAL(f"{posted.dealer} has no accepted deal in round {entry.round}")
        if dealer.status == keeper.RECOVERED:
            continue
        if dealer.status != keeper.WITHHELD:
            raise NOTHING_TO_RECOVER(f"{posted.dealer} revealed its secret in round "
                                     f"{entry.round}; only withheld secrets are recovered")
        if keeper.has_posted(ctx, entry.round, posted.dealer, poster):
            raise SHARES_ALREADY_POSTED(f"{msg.participant} already posted its shares of "
                                        f"{posted.dealer}'s secret")
        if len(posted.shares) != poster.units:
            raise MALFORMED_SHARES(f"{msg.participant} holds {poster.units} share units, so "
                                   f"it posts {poster.units} shares, not {len(posted.shares)}")
        deal = keeper.get_deal(ctx, entry.round, posted.dealer)
        if deal is None:
            raise NO_DEAL(f"{posted.dealer}'s deal in round {entry.round} is gone")
        context = deal_context(ctx.block.chain_id, entry.round, posted.dealer)
        checked: dict[int, bytes] = {}
        for index, share, proof in zip(poster.indices, posted.shares, posted.proofs,
                                       strict=True):
            if not verify_share(poster.public_key, deal.encrypted_shares[index - 1], share,
                                proof, share_context(context, index)):
                raise FORGED_SHARE(
                    f"share {index} of {posted.dealer}'s secret is not the decryption of "
                    f"its encrypted share under {msg.participant}'s key")
            checked[index] = share
        keeper.record_shares(ctx, entry, dealer, poster, checked)
