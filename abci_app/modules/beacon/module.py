"""The beacon module: the chain's one source of randomness (whitepaper Appendix B).

Its ``end_block`` runs the round schedule (:func:`keeper.advance`); the round-started and
output hooks go to the subscribers :func:`abci_app.wiring.hooks` lists. Other modules
draw randomness only through :func:`keeper.output_for_round` and
:func:`keeper.latest_output`.
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.beacon import keeper, msgs, params, queries, tables
from abci_app.modules.beacon.errors import INVALID_GENESIS
from abci_app.tx import is_valid_address
from race_protocol.beacon.group import BeaconCryptoError, point
from race_protocol.beacon.output import OUTPUT_BYTES, genesis_output
from race_protocol.beacon.proofs import PROOF_BYTES
from race_protocol.gen.race.v1 import beacon_pb2
from race_protocol.integers import integer_from_json

MAX_ROUND_ID = 2**62


def _hex_bytes(value: Any, what: str, length: int) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise INVALID_GENESIS(f"{what} is not hex") from None
    if len(raw) != length:
        raise INVALID_GENESIS(f"{what} is {len(raw)} bytes, not {length}")
    return raw


class BeaconModule(Module):
    """Rounds of commit, reveal and recovery, and the output of each."""

    name = "beacon"
    tables = (tables.STATE, tables.ROUNDS, tables.PARTICIPANTS, tables.DEALS, tables.SHARES,
              tables.KEYS, tables.RECORDS)
    params_type = params.BeaconParams
    msg_routes = (
        MsgRoute(beacon_pb2.MsgRegisterBeaconKey, msgs.validate_basic_register_key,
                 msgs.handle_register_key),
        MsgRoute(beacon_pb2.MsgBeaconDeal, msgs.validate_basic_deal, msgs.handle_deal),
        MsgRoute(beacon_pb2.MsgBeaconReveal, msgs.validate_basic_reveal, msgs.handle_reveal),
        MsgRoute(beacon_pb2.MsgBeaconRecover, msgs.validate_basic_recover,
                 msgs.handle_recover),
    )
    query_routes = (
        QueryRoute("latest", queries.latest),
        QueryRoute("round", queries.round_detail),
        QueryRoute("key", queries.key),
        QueryRoute("deal", queries.deal),
        QueryRoute("record", queries.record),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``genesis_output`` (hex; default SHA-256("race/v1/beacon/genesis" || chain id)),
        ``next_round`` (default 1) and ``keys``: ``[{"operator", "public_key", "proof"}]``
        (hex), as :meth:`export_genesis` writes them.

        Genesis is agreed by every validator, like its validator set, so a genesis key's
        proof of possession is kept but not checked (it may be empty): an exported chain
        restarted under a new chain id keeps its keys.
        """
        first_output = (genesis_output(ctx.block.chain_id)
                        if section.get("genesis_output") in (None, "")
                        else _hex_bytes(section["genesis_output"], "genesis_output",
                                        OUTPUT_BYTES))
        try:
            next_round = integer_from_json(section.get("next_round") or 1)
        except ValueError as bad:
            raise INVALID_GENESIS(f"next_round: {bad}") from None
        if not 1 <= next_round <= MAX_ROUND_ID:
            raise INVALID_GENESIS(f"next_round must be between 1 and {MAX_ROUND_ID}")
        keeper.init_state(ctx, first_output, next_round)
        entries = section.get("keys") or []
        if not isinstance(entries, list):
            raise INVALID_GENESIS("keys must be a list")
        seen: set[str] = set()
        for item in sorted(entries, key=lambda k: str(k.get("operator"))
                           if isinstance(k, dict) else ""):
            if not isinstance(item, dict):
                raise INVALID_GENESIS(f"key entry {item!r} is not an object")
            operator = str(item.get("operator", ""))
            if not is_valid_address(operator) or operator in seen:
                raise INVALID_GENESIS(f"key operator {operator!r} is not a race1... address, "
                                      "or is listed twice")
            seen.add(operator)
            public_key = _hex_bytes(item.get("public_key", ""), f"{operator}'s public_key", 32)
            proof = (b"" if not item.get("proof")
                     else _hex_bytes(item["proof"], f"{operator}'s proof", PROOF_BYTES))
            try:
                point(public_key, f"{operator}'s public_key")
            except BeaconCryptoError as bad:
                raise INVALID_GENESIS(str(bad)) from None
            keeper.put_key(ctx, operator, public_key, proof)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """The latest final output, the next round id and every key. A round in progress
        is not carried over: the imported chain opens it afresh under the same id."""
        final = keeper.latest_output(ctx)
        return {
            "genesis_output": final.output.hex(),
            "next_round": str(final.round + 1),
            "keys": [{"operator": k.operator, "public_key": k.public_key.hex(),
                      "proof": k.proof.hex()} for k in keeper.keys(ctx)],
        }

    def end_block(self, ctx: Context) -> None:
        keeper.advance(ctx)

    def check_invariants(self, ctx: Context) -> list[str]:
        return keeper.broken_invariants(ctx)


MODULE = BeaconModule()
