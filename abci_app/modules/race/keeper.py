"""State access of the race module (whitepaper section 4 and Appendix A; docs/race.md).

The only code that reads or writes the race tables. What it keeps:

* **Providers**: each operator account registers one consensus key and one sidecar
  identity; neither may belong to another provider (or, for the key, to a validator).
  A provider races from the cycle after the one it registered in.
* **Cycles**: one at a time, numbered from 1. A cycle row carries its schedule (heights
  fixed as its windows open), the race seed and the sample seed, its counts, and a
  snapshot of the params it runs with, so a governance change never reshapes a cycle in
  progress.
* **Entries**: one per node that committed in a cycle: its root and count, its samples,
  how many it opened, its verdict weights, its status and new power.
* **Tallies**: the weight attesting pass and fail for each opened node of the cycle in
  validation, as two arrays of 64-bit integers (one row per cycle, so an attestation over
  ``n`` nodes is one write, not ``n``).
* **Records**: per provider, the cycles it committed in, was accepted in and was caught
  in; the rewards rules read :func:`was_caught` and :func:`get_record`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from abci_app.core.context import Context
from abci_app.modules.race.params import RaceParams
from abci_app.modules.race.tables import (
    ATTESTATIONS,
    CYCLES,
    ENTRIES,
    OPENINGS,
    PROVIDER_KEYS,
    PROVIDER_SIDECARS,
    PROVIDERS,
    RECORDS,
    STATE,
    STATE_KEY,
    TALLIES,
    VALIDATION_ORDER,
)
from race_protocol.gen.race.v1 import race_pb2
from race_protocol.race.sampling import sample_ranks

AWAITING_SEED = race_pb2.RACE_CYCLE_STATUS_AWAITING_SEED
RACING = race_pb2.RACE_CYCLE_STATUS_RACING
AWAITING_SAMPLE = race_pb2.RACE_CYCLE_STATUS_AWAITING_SAMPLE
OPENING = race_pb2.RACE_CYCLE_STATUS_OPENING
VALIDATING = race_pb2.RACE_CYCLE_STATUS_VALIDATING
CLOSED = race_pb2.RACE_CYCLE_STATUS_CLOSED

NO_OUTCOME = race_pb2.RACE_CYCLE_OUTCOME_UNSPECIFIED
DECIDED = race_pb2.RACE_CYCLE_OUTCOME_DECIDED
KEPT_PREVIOUS = race_pb2.RACE_CYCLE_OUTCOME_KEPT_PREVIOUS

COMMITTED = race_pb2.RACE_ENTRY_STATUS_COMMITTED
OPENED = race_pb2.RACE_ENTRY_STATUS_OPENED
ACCEPTED = race_pb2.RACE_ENTRY_STATUS_ACCEPTED
REJECTED = race_pb2.RACE_ENTRY_STATUS_REJECTED
CAUGHT = race_pb2.RACE_ENTRY_STATUS_CAUGHT

NOT_INDEXED = -1
PPM = 1_000_000


# --- cycles --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cycle:
    """One cycle's schedule, seeds, counts and outcome (0 and b"" until known)."""

    cycle: int
    status: int
    params: str
    seed_round: int = 0
    race_seed: bytes = b""
    race_start_height: int = 0
    race_end_height: int = 0
    commit_end_height: int = 0
    sample_round: int = 0
    sample_seed: bytes = b""
    opened_height: int = 0
    open_end_height: int = 0
    validation_end_height: int = 0
    committed: int = 0
    opened: int = 0
    accepted: int = 0
    caught: int = 0
    total_weight: int = 0
    attesting_weight: int = 0
    outcome: int = NO_OUTCOME

    @property
    def race_params(self) -> RaceParams:
        """The params the cycle runs with (a snapshot from when it was created)."""
        return RaceParams(**json.loads(self.params))

    def as_json(self) -> dict[str, Any]:
        """The proto3 JSON of ``race.v1.RaceCycle``."""
        return {
            "cycle": str(self.cycle),
            "status": race_pb2.RaceCycleStatus.Name(self.status),
            "seed_round": str(self.seed_round),
            "race_seed": self.race_seed.hex(),
            "race_start_height": str(self.race_start_height),
            "race_end_height": str(self.race_end_height),
            "commit_end_height": str(self.commit_end_height),
            "sample_round": str(self.sample_round),
            "sample_seed": self.sample_seed.hex(),
            "opened_height": str(self.opened_height),
            "open_end_height": str(self.open_end_height),
            "validation_end_height": str(self.validation_end_height),
            "committed": str(self.committed),
            "opened": str(self.opened),
            "accepted": str(self.accepted),
            "caught": str(self.caught),
            "total_weight": str(self.total_weight),
            "attesting_weight": str(self.attesting_weight),
            "outcome": race_pb2.RaceCycleOutcome.Name(self.outcome),
        }


def _state(ctx: Context) -> dict[str, Any]:
    row = ctx.table(STATE).get(STATE_KEY)
    return {"current_cycle": 0, "pruned_through": 0} if row is None else dict(row)


def _put_state(ctx: Context, **changes: Any) -> None:
    ctx.table(STATE).put(STATE_KEY, {**_state(ctx), **changes})


def pruned_through(ctx: Context) -> int:
    return int(_state(ctx)["pruned_through"])


def get_cycle(ctx: Context, cycle_id: int) -> Cycle | None:
    row = ctx.table(CYCLES).get(cycle_id)
    return None if row is None else Cycle(cycle=cycle_id, **row)


def current_cycle(ctx: Context) -> Cycle | None:
    """The cycle in progress (None only before genesis ran)."""
    cycle_id = _state(ctx)["current_cycle"]
    return get_cycle(ctx, cycle_id) if cycle_id else None


def put_cycle(ctx: Context, cycle: Cycle) -> Cycle:
    row = {k: v for k, v in asdict(cycle).items() if k != "cycle"}
    ctx.table(CYCLES).put(cycle.cycle, row)
    return cycle


def update_cycle(ctx: Context, cycle: Cycle, **changes: Any) -> Cycle:
    return put_cycle(ctx, replace(cycle, **changes))


def new_cycle(ctx: Context, cycle_id: int, params_json: str) -> Cycle:
    """Open cycle ``cycle_id`` waiting for its seed, and make it the one in progress."""
    cycle = put_cycle(ctx, Cycle(cycle=cycle_id, status=AWAITING_SEED, params=params_json))
    _put_state(ctx, current_cycle=cycle_id)
    return cycle


def delete_cycle_rows(ctx: Context, cycle_id: int) -> None:
    """Prune a closed cycle: its row, entries, bitmap order and attestations."""
    for table in (ENTRIES, VALIDATION_ORDER, ATTESTATIONS):
        for key, _ in list(ctx.table(table).scan(prefix=(cycle_id,))):
            ctx.table(table).delete(key)
    ctx.table(CYCLES).delete(cycle_id)
    _put_state(ctx, pruned_through=cycle_id)


# --- providers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Provider:
    """A registered provider."""

    operator: str
    consensus_pub_key: bytes
    sidecar_identity: str
    registered_height: int
    first_cycle: int


def get_provider(ctx: Context, operator: str) -> Provider | None:
    row = ctx.table(PROVIDERS).get(operator)
    return None if row is None else Provider(operator, **row)


def provider_of_key(ctx: Context, consensus_pub_key: bytes) -> str | None:
    row = ctx.table(PROVIDER_KEYS).get(consensus_pub_key)
    return None if row is None else str(row["operator"])


def provider_of_sidecar(ctx: Context, sidecar_identity: str) -> str | None:
    row = ctx.table(PROVIDER_SIDECARS).get(sidecar_identity)
    return None if row is None else str(row["operator"])


def put_provider(ctx: Context, provider: Provider) -> None:
    """Register a provider (the caller has checked that nothing is taken)."""
    ctx.table(PROVIDERS).put(provider.operator, {
        "consensus_pub_key": provider.consensus_pub_key,
        "sidecar_identity": provider.sidecar_identity,
        "registered_height": provider.registered_height,
        "first_cycle": provider.first_cycle,
    })
    ctx.table(PROVIDER_KEYS).put(provider.consensus_pub_key, {"operator": provider.operator})
    if provider.sidecar_identity:
        ctx.table(PROVIDER_SIDECARS).put(provider.sidecar_identity,
                                         {"operator": provider.operator})


def providers(ctx: Context) -> Iterator[Provider]:
    """Every provider, by operator address."""
    for key, row in ctx.table(PROVIDERS).scan():
        yield Provider(key[0], **row)


# --- entries -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One node's part in one cycle."""

    cycle: int
    operator: str
    status: int
    root: bytes
    count: int
    commit_height: int
    samples: int = 0
    opened_samples: int = 0
    validation_index: int = NOT_INDEXED
    pass_weight: int = 0
    fail_weight: int = 0
    new_power: int = 0
    reason: str = ""


def get_entry(ctx: Context, cycle_id: int, operator: str) -> Entry | None:
    row = ctx.table(ENTRIES).get((cycle_id, operator))
    return None if row is None else Entry(cycle_id, operator, **row)


def put_entry(ctx: Context, entry: Entry) -> Entry:
    row = {k: v for k, v in asdict(entry).items() if k not in ("cycle", "operator")}
    ctx.table(ENTRIES).put((entry.cycle, entry.operator), row)
    return entry


def update_entry(ctx: Context, entry: Entry, **changes: Any) -> Entry:
    return put_entry(ctx, replace(entry, **changes))


def entries(ctx: Context, cycle_id: int) -> list[Entry]:
    """A cycle's entries, by operator address."""
    return [Entry(cycle_id, key[1], **row)
            for key, row in ctx.table(ENTRIES).scan(prefix=(cycle_id,))]


def ranks_of(cycle: Cycle, entry: Entry) -> tuple[int, ...]:
    """The ranks ``entry``'s node must open, once the cycle's samples are drawn."""
    if not cycle.sample_seed:
        return ()
    return sample_ranks(cycle.sample_seed, cycle.cycle, entry.operator, entry.count,
                        cycle.race_params.sample_size)


# --- openings ------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpenedLeaf:
    """A sampled leaf a node opened: its position in the draw, its rank and the leaf."""

    sample: int
    rank: int
    nonce: int
    distance_scaled: int


def is_opened(ctx: Context, cycle_id: int, operator: str, sample: int) -> bool:
    return ctx.table(OPENINGS).has((cycle_id, operator, sample))


def put_opening(ctx: Context, cycle_id: int, operator: str, leaf: OpenedLeaf) -> None:
    ctx.table(OPENINGS).put((cycle_id, operator, leaf.sample), {
        "rank": leaf.rank, "nonce": leaf.nonce.to_bytes(8, "big"),
        "distance_scaled": leaf.distance_scaled})


def openings(ctx: Context, cycle_id: int, operator: str) -> list[OpenedLeaf]:
    """A node's opened leaves in the cycle in progress, by sample position."""
    return [OpenedLeaf(key[2], row["rank"], int.from_bytes(row["nonce"], "big"),
                       row["distance_scaled"])
            for key, row in ctx.table(OPENINGS).scan(prefix=(cycle_id, operator))]


def cycles_with_openings(ctx: Context) -> set[int]:
    """The cycles some opened leaf is stored for (only the one in progress, normally)."""
    return {int(key[0]) for key, _ in ctx.table(OPENINGS).scan()}


def delete_openings(ctx: Context, cycle_id: int) -> None:
    for key, _ in list(ctx.table(OPENINGS).scan(prefix=(cycle_id,))):
        ctx.table(OPENINGS).delete(key)


# --- validation order, attestations and tallies --------------------------------------------

def set_validation_order(ctx: Context, cycle_id: int, operators: list[str]) -> None:
    for position, operator in enumerate(operators):
        ctx.table(VALIDATION_ORDER).put((cycle_id, position), {"operator": operator})


def validation_order(ctx: Context, cycle_id: int) -> list[str]:
    """The operators the cycle's bitmap positions stand for, position 0 first."""
    return [str(row["operator"])
            for _, row in ctx.table(VALIDATION_ORDER).scan(prefix=(cycle_id,))]


def has_attested(ctx: Context, cycle_id: int, attester: str) -> bool:
    return ctx.table(ATTESTATIONS).has((cycle_id, attester))


def attestations(ctx: Context, cycle_id: int) -> list[tuple[str, dict[str, Any]]]:
    return [(str(key[1]), dict(row))
            for key, row in ctx.table(ATTESTATIONS).scan(prefix=(cycle_id,))]


def _pack(values: list[int]) -> bytes:
    return struct.pack(f">{len(values)}Q", *values)


def _unpack(blob: bytes) -> list[int]:
    return list(struct.unpack(f">{len(blob) // 8}Q", blob))


def tallies(ctx: Context, cycle_id: int, nodes: int) -> tuple[list[int], list[int]]:
    """Weight attesting pass and fail for each bitmap position of the cycle."""
    row = ctx.table(TALLIES).get(cycle_id)
    if row is None:
        return [0] * nodes, [0] * nodes
    return _unpack(row["pass_weights"]), _unpack(row["fail_weights"])


def record_attestation(ctx: Context, cycle: Cycle, attester: str, weight: int,
                       passed: bytes, failed: bytes, passing: list[int],
                       failing: list[int]) -> Cycle:
    """Add an attester's weight to the pass or fail tally of each node it judged."""
    pass_weights, fail_weights = tallies(ctx, cycle.cycle, cycle.opened)
    for position in passing:
        pass_weights[position] += weight
    for position in failing:
        fail_weights[position] += weight
    ctx.table(TALLIES).put(cycle.cycle, {"pass_weights": _pack(pass_weights),
                                         "fail_weights": _pack(fail_weights)})
    ctx.table(ATTESTATIONS).put((cycle.cycle, attester), {
        "weight": weight, "height": ctx.block.height, "passed": passed, "failed": failed})
    return update_cycle(ctx, cycle, attesting_weight=cycle.attesting_weight + weight)


def delete_tallies(ctx: Context, cycle_id: int) -> None:
    ctx.table(TALLIES).delete(cycle_id)


def share_ppm(weight: int, total: int) -> int:
    """``weight`` as parts per million of ``total`` (0 when there is no weight)."""
    return weight * PPM // total if total > 0 else 0


# --- records (read by the rewards rules) ---------------------------------------------------

@dataclass(frozen=True)
class Record:
    """A provider's cycles: committed in, accepted in, caught in, and the last catch."""

    operator: str
    committed: int = 0
    accepted: int = 0
    caught: int = 0
    last_caught_cycle: int = 0
    last_caught_reason: str = ""


def get_record(ctx: Context, operator: str) -> Record:
    row = ctx.table(RECORDS).get(operator)
    return Record(operator) if row is None else Record(operator, **row)


def bump_record(ctx: Context, operator: str, *, committed: int = 0, accepted: int = 0,
                caught_in: int = 0, reason: str = "") -> None:
    record = get_record(ctx, operator)
    ctx.table(RECORDS).put(operator, {
        "committed": record.committed + committed,
        "accepted": record.accepted + accepted,
        "caught": record.caught + (1 if caught_in else 0),
        "last_caught_cycle": caught_in or record.last_caught_cycle,
        "last_caught_reason": reason if caught_in else record.last_caught_reason,
    })


def was_caught(ctx: Context, cycle_id: int, operator: str) -> bool:
    """Whether ``operator`` was caught in ``cycle_id`` (whitepaper section 6: a node caught
    cheating forfeits the cycle's rewards). False for a pruned cycle."""
    entry = get_entry(ctx, cycle_id, operator)
    return entry is not None and entry.status == CAUGHT
