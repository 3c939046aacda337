"""The race module: cycles of the Race whose accepted counts become validator power
(whitepaper section 4 and Appendix A; docs/race.md).

Its ``end_block`` closes the windows of the cycle in progress (:func:`cycle.advance`); its
``after_beacon_output`` hook, wired in :func:`abci_app.wiring.hooks`, seeds a cycle's race
and draws its samples from beacon outputs, the only randomness it uses.
"""

from __future__ import annotations

from typing import Any

from abci_app.core.context import Context
from abci_app.core.module import Module, MsgRoute, QueryRoute
from abci_app.modules.race import cycle, keeper, msgs, params, queries, tables
from abci_app.modules.race.errors import INVALID_GENESIS
from abci_app.modules.staking import keeper as staking
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import race_pb2
from race_protocol.integers import integer_from_json

MAX_CYCLE_ID = 2**62


def _genesis_provider(item: Any) -> keeper.Provider:
    if not isinstance(item, dict):
        raise INVALID_GENESIS(f"provider entry {item!r} is not an object")
    operator = str(item.get("operator", ""))
    if not is_valid_address(operator):
        raise INVALID_GENESIS(f"provider operator {operator!r} is not a race1... address")
    try:
        key = bytes.fromhex(str(item.get("consensus_pub_key", "")))
    except ValueError:
        raise INVALID_GENESIS(f"{operator}'s consensus_pub_key is not hex") from None
    if len(key) != msgs.ED25519_KEY_BYTES:
        raise INVALID_GENESIS(f"{operator}'s consensus_pub_key is {len(key)} bytes, not "
                              f"{msgs.ED25519_KEY_BYTES}")
    identity = str(item.get("sidecar_identity", ""))
    if len(identity) > msgs.MAX_SIDECAR_IDENTITY_CHARS:
        raise INVALID_GENESIS(f"{operator}'s sidecar_identity is too long")
    return keeper.Provider(operator, key, identity, 0, 1)


class RaceModule(Module):
    """Providers, cycles, proof commitments, openings, attestations and new power."""

    name = "race"
    tables = (tables.STATE, tables.CYCLES, tables.PROVIDERS, tables.PROVIDER_KEYS,
              tables.PROVIDER_SIDECARS, tables.ENTRIES, tables.OPENINGS,
              tables.VALIDATION_ORDER, tables.ATTESTATIONS, tables.TALLIES, tables.RECORDS)
    params_type = params.RaceParams
    msg_routes = (
        MsgRoute(race_pb2.MsgRegisterProvider, msgs.validate_basic_register_provider,
                 msgs.handle_register_provider),
        MsgRoute(race_pb2.MsgCommitProof, msgs.validate_basic_commit, msgs.handle_commit),
        MsgRoute(race_pb2.MsgOpenProof, msgs.validate_basic_open, msgs.handle_open),
        MsgRoute(race_pb2.MsgAttest, msgs.validate_basic_attest, msgs.handle_attest),
    )
    query_routes = (
        QueryRoute("status", queries.status),
        QueryRoute("cycle", queries.cycle_detail),
        QueryRoute("results", queries.results),
        QueryRoute("samples", queries.samples),
        QueryRoute("providers", queries.providers),
        QueryRoute("provider", queries.provider),
    )

    def validate_params(self, value: Any) -> None:
        params.validate(value)

    def init_genesis(self, ctx: Context, section: dict[str, Any]) -> None:
        """``providers``: ``[{"operator", "consensus_pub_key" (hex), "sidecar_identity"}]``;
        without the key, every genesis validator linked to an operator is a provider (the
        genesis set races like everyone else). ``next_cycle`` (default 1) is the first
        cycle's id. Genesis providers race from the first cycle."""
        listed = section.get("providers")
        if listed is None:
            entries = [keeper.Provider(v.operator, v.pub_key, "", 0, 1)
                       for v in staking.validators(ctx) if v.operator]
        elif isinstance(listed, list):
            entries = [_genesis_provider(item) for item in listed]
        else:
            raise INVALID_GENESIS("providers must be a list")
        try:
            next_cycle = integer_from_json(section.get("next_cycle") or 1)
        except ValueError as bad:
            raise INVALID_GENESIS(f"next_cycle: {bad}") from None
        if not 1 <= next_cycle <= MAX_CYCLE_ID:
            raise INVALID_GENESIS(f"next_cycle must be between 1 and {MAX_CYCLE_ID}")
        for entry in sorted(entries, key=lambda p: p.operator):
            if keeper.get_provider(ctx, entry.operator) is not None or \
                    keeper.provider_of_key(ctx, entry.consensus_pub_key) is not None or \
                    (entry.sidecar_identity and
                     keeper.provider_of_sidecar(ctx, entry.sidecar_identity) is not None):
                raise INVALID_GENESIS(f"provider {entry.operator} repeats an operator, a "
                                      "consensus key or a sidecar identity")
            keeper.put_provider(ctx, keeper.Provider(
                entry.operator, entry.consensus_pub_key, entry.sidecar_identity,
                ctx.block.height, next_cycle))
        cycle.start_cycle(ctx, next_cycle)

    def export_genesis(self, ctx: Context) -> dict[str, Any]:
        """Every provider and the id of the cycle in progress, which the imported chain
        starts afresh (its weights are the validator set's)."""
        current = keeper.current_cycle(ctx)
        return {
            "providers": [{"operator": p.operator,
                           "consensus_pub_key": p.consensus_pub_key.hex(),
                           "sidecar_identity": p.sidecar_identity}
                          for p in keeper.providers(ctx)],
            "next_cycle": str(current.cycle if current is not None else 1),
        }

    def end_block(self, ctx: Context) -> None:
        cycle.advance(ctx)

    def after_beacon_output(self, ctx: Context, round_id: int, output: bytes) -> None:
        """Whitepaper Appendix B: the beacon's output seeds the Race and draws the samples."""
        cycle.after_beacon_output(ctx, round_id, output)

    def check_invariants(self, ctx: Context) -> list[str]:
        return cycle.broken_invariants(ctx)


MODULE = RaceModule()
