"""State access of the beacon (whitepaper Appendix B; docs/beacon.md).

The rules this file keeps:

* Rounds run back to back. A round opens in the FinalizeBlock of the previous round's
  last block (or, while none is open, of the first block in which some weighted node has
  a registered key); its participants, share units and threshold are fixed then, from
  the voting weight at that moment.
* Its windows follow: commit (deals), reveal, recovery. At the end of the commit window a
  participant without an accepted deal is excluded; at the end of the reveal window every
  participant that did not reveal is recorded as a non-revealer; at the end of the
  recovery window the output becomes final and the next round opens.
* The output hashes every included dealer's contribution ``σ = s·H``, revealed or
  recovered, so it is the same whoever withholds; a round with a contribution that can be
  neither revealed nor recovered fails, and its value is the previous output chained with
  the round id (:mod:`race_protocol.beacon.output`).
* :func:`output_for_round` and :func:`latest_output` are the only way other modules get
  randomness (DESIGN.md section 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from abci_app.core.context import Context
from abci_app.modules.beacon.tables import (
    DEALS,
    KEYS,
    PARTICIPANTS,
    RECORDS,
    ROUNDS,
    SHARES,
    STATE,
    STATE_KEY,
)
from abci_app.modules.staking import keeper as staking
from race_protocol.beacon.group import POINT_BYTES
from race_protocol.beacon.output import failed_round_output, genesis_output, round_output
from race_protocol.beacon.pvss import recover_contribution
from race_protocol.beacon.units import select_participants, share_units, threshold_units
from race_protocol.gen.race.v1 import beacon_pb2

UNSPECIFIED = beacon_pb2.BEACON_ROUND_STATUS_UNSPECIFIED
COMMIT = beacon_pb2.BEACON_ROUND_STATUS_COMMIT
REVEAL = beacon_pb2.BEACON_ROUND_STATUS_REVEAL
RECOVERY = beacon_pb2.BEACON_ROUND_STATUS_RECOVERY
COMPLETE = beacon_pb2.BEACON_ROUND_STATUS_COMPLETE
FAILED = beacon_pb2.BEACON_ROUND_STATUS_FAILED
FINAL_STATUSES = (COMPLETE, FAILED)

AWAITING_DEAL = beacon_pb2.BEACON_PARTICIPANT_STATUS_AWAITING_DEAL
DEALT = beacon_pb2.BEACON_PARTICIPANT_STATUS_DEALT
REVEALED = beacon_pb2.BEACON_PARTICIPANT_STATUS_REVEALED
WITHHELD = beacon_pb2.BEACON_PARTICIPANT_STATUS_WITHHELD
RECOVERED = beacon_pb2.BEACON_PARTICIPANT_STATUS_RECOVERED
UNRECOVERED = beacon_pb2.BEACON_PARTICIPANT_STATUS_UNRECOVERED
EXCLUDED = beacon_pb2.BEACON_PARTICIPANT_STATUS_EXCLUDED
# Participants whose deal was accepted: their contribution is part of the output.
INCLUDED_STATUSES = (DEALT, REVEALED, WITHHELD, RECOVERED, UNRECOVERED)
PRUNE_ROUNDS_PER_ROUND = 2
COMMIT_WINDOW, REVEAL_WINDOW, RECOVERY_WINDOW = "commit", "reveal", "recovery"


@dataclass(frozen=True)
class Round:
    """One round's schedule, size, counts and (once final) output."""

    round: int
    status: int
    start_height: int
    commit_end_height: int
    reveal_end_height: int
    end_height: int
    total_units: int
    threshold_units: int
    total_weight: int
    participants: int
    dealt: int
    revealed: int
    recovered: int
    excluded: int
    unrecovered: int
    output: bytes

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def window(self, name: str) -> tuple[int, int]:
        """First and last block of the commit, reveal or recovery window."""
        if name == COMMIT_WINDOW:
            return self.start_height, self.commit_end_height
        if name == REVEAL_WINDOW:
            return self.commit_end_height + 1, self.reveal_end_height
        if name == RECOVERY_WINDOW:
            return self.reveal_end_height + 1, self.end_height
        raise ValueError(f"no window {name!r}")

    def as_json(self) -> dict[str, Any]:
        """The proto3 JSON of ``race.v1.BeaconRound``."""
        return {
            "round": str(self.round),
            "status": beacon_pb2.BeaconRoundStatus.Name(self.status),
            "start_height": str(self.start_height),
            "commit_end_height": str(self.commit_end_height),
            "reveal_end_height": str(self.reveal_end_height),
            "end_height": str(self.end_height),
            "total_units": str(self.total_units),
            "threshold_units": str(self.threshold_units),
            "total_weight": str(self.total_weight),
            "participants": str(self.participants),
            "dealt": str(self.dealt),
            "revealed": str(self.revealed),
            "recovered": str(self.recovered),
            "excluded": str(self.excluded),
            "unrecovered": str(self.unrecovered),
            "output": self.output.hex(),
        }


@dataclass(frozen=True)
class Participant:
    """A participant of one round, as fixed when the round opened."""

    round: int
    address: str
    weight: int
    units: int
    first_index: int
    public_key: bytes
    status: int
    contribution: bytes

    @property
    def indices(self) -> range:
        return range(self.first_index, self.first_index + self.units)

    @property
    def revealed(self) -> bool:
        return self.status == REVEALED

    def as_json(self) -> dict[str, Any]:
        """The proto3 JSON of ``race.v1.BeaconParticipant``."""
        return {
            "address": self.address,
            "weight": str(self.weight),
            "units": str(self.units),
            "first_index": str(self.first_index),
            "public_key": self.public_key.hex(),
            "status": beacon_pb2.BeaconParticipantStatus.Name(self.status),
            "contribution": self.contribution.hex(),
        }


@dataclass(frozen=True)
class BeaconOutput:
    """A final output: the round it belongs to (0 for the genesis value)."""

    round: int
    output: bytes
    status: int
    final_height: int


@dataclass(frozen=True)
class StoredDeal:
    """An accepted deal of the round in progress."""

    commitments: tuple[bytes, ...]
    encrypted_shares: tuple[bytes, ...]
    shares_posted: int


@dataclass(frozen=True)
class KeyEntry:
    """A registered encryption key."""

    operator: str
    public_key: bytes
    proof: bytes
    registered_height: int


@dataclass(frozen=True)
class Record:
    """A participant's lapses over all rounds."""

    address: str
    rounds: int
    missed_deals: int
    missed_reveals: int
    last_missed_round: int


def _points(blob: bytes) -> tuple[bytes, ...]:
    return tuple(blob[k:k + POINT_BYTES] for k in range(0, len(blob), POINT_BYTES))


# --- the chain of outputs ------------------------------------------------------------------

def _state(ctx: Context) -> dict[str, Any]:
    row = ctx.table(STATE).get(STATE_KEY)
    if row is None:
        first = genesis_output(ctx.block.chain_id)
        return {"current_round": 0, "next_round": 1, "final_round": 0, "final_output": first,
                "pruned_through": 0, "genesis_output": first}
    return dict(row)


def _put_state(ctx: Context, **changes: Any) -> None:
    ctx.table(STATE).put(STATE_KEY, {**_state(ctx), **changes})


def init_state(ctx: Context, first_output: bytes, next_round: int) -> None:
    """Genesis: the value consumers get until a round is final, and the first round's id."""
    ctx.table(STATE).put(STATE_KEY, {
        "current_round": 0,
        "next_round": next_round,
        "final_round": next_round - 1,
        "final_output": first_output,
        "pruned_through": next_round - 1,
        "genesis_output": first_output,
    })


def latest_output(ctx: Context) -> BeaconOutput:
    """The latest final output (round 0 and the genesis value before any round is final)."""
    state = _state(ctx)
    final_round = state["final_round"]
    row = ctx.table(ROUNDS).get(final_round) if final_round else None
    if row is None:
        return BeaconOutput(final_round, state["final_output"], UNSPECIFIED, 0)
    return BeaconOutput(final_round, state["final_output"], row["status"], row["end_height"])


def output_for_round(ctx: Context, round_id: int) -> bytes | None:
    """The beacon output for round ``round_id``: the one way other modules draw randomness.

    None until the round is final (or once it is pruned); round 0 is the genesis value.
    A failed round's value is its chained fallback (``get_round(...).status`` says so).
    """
    state = _state(ctx)
    if round_id == 0:
        return bytes(state["genesis_output"])
    if round_id == state["final_round"]:
        return bytes(state["final_output"])
    row = ctx.table(ROUNDS).get(round_id)
    if row is None or row["status"] not in FINAL_STATUSES:
        return None
    return bytes(row["output"])


# --- rounds and participants ---------------------------------------------------------------

def get_round(ctx: Context, round_id: int) -> Round | None:
    row = ctx.table(ROUNDS).get(round_id)
    return None if row is None else Round(round=round_id, **row)


def current_round(ctx: Context) -> Round | None:
    """The round in progress, or None while no round is open."""
    round_id = _state(ctx)["current_round"]
    return get_round(ctx, round_id) if round_id else None


def _put_round(ctx: Context, entry: Round) -> None:
    row = {k: v for k, v in entry.__dict__.items() if k != "round"}
    ctx.table(ROUNDS).put(entry.round, row)


def _count(ctx: Context, round_id: int, counter: str) -> None:
    """Add one to a round's ``dealt``, ``revealed`` or ``recovered`` count."""
    row = ctx.table(ROUNDS).get(round_id)
    if row is None:
        raise AssertionError(f"beacon round {round_id} has no row")
    ctx.table(ROUNDS).put(round_id, {**row, counter: row[counter] + 1})


def _update_round(ctx: Context, round_id: int, **changes: Any) -> Round:
    entry = get_round(ctx, round_id)
    if entry is None:
        raise AssertionError(f"beacon round {round_id} has no row")
    row = {k: v for k, v in entry.__dict__.items() if k != "round"}
    row.update(changes)
    ctx.table(ROUNDS).put(round_id, row)
    return Round(round=round_id, **row)


def get_participant(ctx: Context, round_id: int, address: str) -> Participant | None:
    row = ctx.table(PARTICIPANTS).get((round_id, address))
    return None if row is None else Participant(round_id, address, **row)


def participants(ctx: Context, round_id: int) -> list[Participant]:
    """A round's participants, by address."""
    return [Participant(round_id, key[1], **row)
            for key, row in ctx.table(PARTICIPANTS).scan(prefix=(round_id,))]


def _put_participant(ctx: Context, entry: Participant) -> None:
    row = {k: v for k, v in entry.__dict__.items() if k not in ("round", "address")}
    ctx.table(PARTICIPANTS).put((entry.round, entry.address), row)


def _set_participant(ctx: Context, entry: Participant, **changes: Any) -> Participant:
    row = {k: v for k, v in entry.__dict__.items() if k not in ("round", "address")}
    row.update(changes)
    ctx.table(PARTICIPANTS).put((entry.round, entry.address), row)
    return Participant(entry.round, entry.address, **row)


def recipient_keys(members: list[Participant]) -> list[bytes]:
    """The encryption key of each share index ``1..total_units``."""
    keys: list[bytes] = []
    for member in sorted(members, key=lambda m: m.first_index):
        keys.extend([member.public_key] * member.units)
    return keys


# --- keys ----------------------------------------------------------------------------------

def get_key(ctx: Context, operator: str) -> KeyEntry | None:
    row = ctx.table(KEYS).get(operator)
    return None if row is None else KeyEntry(operator, **row)


def keys(ctx: Context) -> list[KeyEntry]:
    return [KeyEntry(key[0], **row) for key, row in ctx.table(KEYS).scan()]


def put_key(ctx: Context, operator: str, public_key: bytes, proof: bytes) -> bool:
    """Register or replace ``operator``'s key (a round uses the key it opened with);
    True when it replaced one."""
    table = ctx.table(KEYS)
    replaced = table.has(operator)
    table.put(operator, {"public_key": public_key, "proof": proof,
                         "registered_height": ctx.block.height})
    return replaced


def operator_weights(ctx: Context) -> list[tuple[str, int]]:
    """Voting weight per operator account (summed over the validators it operates), by
    address; validators without an operator link cannot sign and do not take part."""
    weights: dict[str, int] = {}
    for validator in staking.validators(ctx):
        if validator.operator and validator.power > 0:
            weights[validator.operator] = weights.get(validator.operator, 0) + validator.power
    return sorted(weights.items())


def operates_validator(ctx: Context, account: str) -> bool:
    return staking.voting_power_of_account(ctx, account) > 0


# --- records (penalties, read by the rewards rules to come) --------------------------------

def get_record(ctx: Context, address: str) -> Record:
    row = ctx.table(RECORDS).get(address)
    if row is None:
        return Record(address, 0, 0, 0, 0)
    return Record(address, **row)


def _bump_record(ctx: Context, address: str, round_id: int, *, rounds: int = 0,
                 missed_deals: int = 0, missed_reveals: int = 0) -> None:
    record = get_record(ctx, address)
    missed = missed_deals or missed_reveals
    ctx.table(RECORDS).put(address, {
        "rounds": record.rounds + rounds,
        "missed_deals": record.missed_deals + missed_deals,
        "missed_reveals": record.missed_reveals + missed_reveals,
        "last_missed_round": round_id if missed else record.last_missed_round,
    })


# --- deals and shares ----------------------------------------------------------------------

def get_deal(ctx: Context, round_id: int, dealer: str) -> StoredDeal | None:
    row = ctx.table(DEALS).get((round_id, dealer))
    if row is None:
        return None
    return StoredDeal(_points(row["commitments"]), _points(row["encrypted_shares"]),
                      row["shares_posted"])


def record_deal(ctx: Context, entry: Round, dealer: Participant,
                commitments: tuple[bytes, ...], encrypted_shares: tuple[bytes, ...]) -> None:
    """Keep a checked deal; the dealer's contribution is now part of the round."""
    ctx.table(DEALS).put((entry.round, dealer.address), {
        "commitments": b"".join(commitments),
        "encrypted_shares": b"".join(encrypted_shares),
        "shares_posted": 0,
    })
    _set_participant(ctx, dealer, status=DEALT)
    _count(ctx, entry.round, "dealt")
    ctx.emit("beacon_deal", round=entry.round, dealer=dealer.address, units=dealer.units)


def record_reveal(ctx: Context, entry: Round, dealer: Participant, contribution: bytes) -> None:
    """Keep a checked reveal's contribution ``σ = s·H``."""
    _set_participant(ctx, dealer, status=REVEALED, contribution=contribution)
    _count(ctx, entry.round, "revealed")
    ctx.emit("beacon_reveal", round=entry.round, dealer=dealer.address)


def has_posted(ctx: Context, round_id: int, dealer: str, poster: Participant) -> bool:
    """True when ``poster``'s shares of ``dealer``'s secret are already stored."""
    return ctx.table(SHARES).has((round_id, dealer, poster.first_index))


def record_shares(ctx: Context, entry: Round, dealer: Participant, poster: Participant,
                  shares: dict[int, bytes]) -> bool:
    """Keep checked decrypted shares; with ``threshold_units`` of them, recover the
    dealer's contribution at once. True when this post completed the recovery."""
    table = ctx.table(SHARES)
    for index in sorted(shares):
        table.put((entry.round, dealer.address, index), {"share": shares[index]})
    deals = ctx.table(DEALS)
    deal_row = deals.get((entry.round, dealer.address))
    if deal_row is None:
        raise AssertionError(f"withheld dealer {dealer.address} has no deal row")
    posted = deal_row["shares_posted"] + len(shares)
    deals.put((entry.round, dealer.address), {**deal_row, "shares_posted": posted})
    ctx.emit("beacon_shares", round=entry.round, dealer=dealer.address,
             participant=poster.address, shares=len(shares))
    if posted < entry.threshold_units:
        return False
    stored = {key[2]: row["share"]
              for key, row in table.scan(prefix=(entry.round, dealer.address))}
    contribution = recover_contribution(stored, entry.threshold_units)
    for index in sorted(stored):
        table.delete((entry.round, dealer.address, index))
    _set_participant(ctx, dealer, status=RECOVERED, contribution=contribution)
    _count(ctx, entry.round, "recovered")
    ctx.emit("beacon_recovered", round=entry.round, dealer=dealer.address, shares=posted)
    return True


# --- the schedule --------------------------------------------------------------------------

def advance(ctx: Context) -> None:
    """The beacon's end of block: move the round in progress along its schedule, and open
    the next round when one ends (or when none is open)."""
    entry = current_round(ctx)
    height = ctx.block.height
    if entry is None:
        open_round(ctx)
        return
    if height == entry.commit_end_height:
        close_commit_window(ctx, entry)
    elif height == entry.reveal_end_height:
        close_reveal_window(ctx, entry)
    elif height >= entry.end_height:
        finalize_round(ctx, entry)
        open_round(ctx)


def open_round(ctx: Context) -> Round | None:
    """Open the next round with the heaviest nodes that have a key; its commit window
    starts at the next block. None (and nothing written) when no weighted node has one."""
    params = ctx.params("beacon")
    keyed = [(address, weight) for address, weight in operator_weights(ctx)
             if get_key(ctx, address) is not None]
    chosen = select_participants(keyed, params.max_participants)
    if not chosen:
        return None
    allocations = share_units(chosen, params.max_share_units)
    total_units = sum(a.units for a in allocations)
    state = _state(ctx)
    round_id = state["next_round"]
    commit_end = ctx.block.height + params.commit_window_blocks
    reveal_end = commit_end + params.reveal_window_blocks
    entry = Round(
        round=round_id, status=COMMIT, start_height=ctx.block.height + 1,
        commit_end_height=commit_end, reveal_end_height=reveal_end,
        end_height=reveal_end + params.recovery_window_blocks, total_units=total_units,
        threshold_units=threshold_units(total_units, params.threshold_ppm),
        total_weight=sum(a.weight for a in allocations), participants=len(allocations),
        dealt=0, revealed=0, recovered=0, excluded=0, unrecovered=0, output=b"")
    _put_round(ctx, entry)
    for allocation in allocations:
        key = get_key(ctx, allocation.address)
        if key is None:
            raise AssertionError(f"{allocation.address} was chosen without a key")
        _put_participant(ctx, Participant(
            round_id, allocation.address, allocation.weight, allocation.units,
            allocation.first_index, key.public_key, AWAITING_DEAL, b""))
        _bump_record(ctx, allocation.address, round_id, rounds=1)
    _put_state(ctx, current_round=round_id, next_round=round_id + 1)
    ctx.emit("beacon_round_start", round=round_id, start_height=entry.start_height,
             commit_end_height=entry.commit_end_height,
             reveal_end_height=entry.reveal_end_height, end_height=entry.end_height,
             participants=entry.participants, total_units=entry.total_units,
             threshold_units=entry.threshold_units)
    ctx.registry.hooks.run_beacon_round_started(ctx, round_id)
    return entry


def close_commit_window(ctx: Context, entry: Round) -> None:
    """Exclude every participant without an accepted deal, and record it."""
    excluded = 0
    for member in participants(ctx, entry.round):
        if member.status == AWAITING_DEAL:
            _set_participant(ctx, member, status=EXCLUDED)
            _bump_record(ctx, member.address, entry.round, missed_deals=1)
            ctx.emit("beacon_excluded", round=entry.round, participant=member.address,
                     reason="no valid deal in the commit window")
            excluded += 1
    _update_round(ctx, entry.round, status=REVEAL, excluded=excluded)


def close_reveal_window(ctx: Context, entry: Round) -> None:
    """Record every participant that did not reveal; dealt secrets await recovery."""
    for member in participants(ctx, entry.round):
        if member.status in (DEALT, EXCLUDED):
            if member.status == DEALT:
                _set_participant(ctx, member, status=WITHHELD)
            _bump_record(ctx, member.address, entry.round, missed_reveals=1)
            ctx.emit("beacon_non_revealer", round=entry.round, participant=member.address,
                     dealt=str(member.status == DEALT).lower())
    _update_round(ctx, entry.round, status=RECOVERY)


def finalize_round(ctx: Context, entry: Round) -> Round:
    """Make the round's output final, drop its deals and shares, and tell subscribers."""
    contributions: list[tuple[str, bytes]] = []
    unrecovered = 0
    for member in participants(ctx, entry.round):
        if member.status in (DEALT, WITHHELD):
            _set_participant(ctx, member, status=UNRECOVERED)
            unrecovered += 1
        elif member.status in (REVEALED, RECOVERED):
            contributions.append((member.address, member.contribution))
    state = _state(ctx)
    if contributions and not unrecovered:
        status, output = COMPLETE, round_output(entry.round, contributions)
    else:
        status, output = FAILED, failed_round_output(entry.round, state["final_output"])
    for key, _ in list(ctx.table(DEALS).scan(prefix=(entry.round,))):
        ctx.table(DEALS).delete(key)
    for key, _ in list(ctx.table(SHARES).scan(prefix=(entry.round,))):
        ctx.table(SHARES).delete(key)
    final = _update_round(ctx, entry.round, status=status, unrecovered=unrecovered,
                          output=output)
    _put_state(ctx, current_round=0, final_round=entry.round, final_output=output)
    _prune(ctx, entry.round)
    ctx.emit("beacon_output", round=entry.round,
             status=beacon_pb2.BeaconRoundStatus.Name(status), output=output.hex(),
             contributions=len(contributions), revealed=final.revealed,
             recovered=final.recovered, unrecovered=unrecovered)
    ctx.registry.hooks.run_beacon_output(ctx, entry.round, output)
    return final


def _prune(ctx: Context, final_round: int) -> None:
    """Drop the rows of rounds older than ``history_rounds``, a bounded number of rounds
    per call so a smaller ``history_rounds`` catches up over the next rounds."""
    keep = ctx.params("beacon").history_rounds
    pruned = _state(ctx)["pruned_through"]
    for _ in range(PRUNE_ROUNDS_PER_ROUND):
        if pruned + 1 > final_round - keep:
            break
        pruned += 1
        for key, _ in list(ctx.table(PARTICIPANTS).scan(prefix=(pruned,))):
            ctx.table(PARTICIPANTS).delete(key)
        ctx.table(ROUNDS).delete(pruned)
    _put_state(ctx, pruned_through=pruned)


# --- invariants ----------------------------------------------------------------------------

def broken_invariants(ctx: Context) -> list[str]:
    """What must hold between rounds, participants, deals and shares."""
    broken: list[str] = []
    state = _state(ctx)
    current = state["current_round"]
    entry = current_round(ctx)
    if current and (entry is None or entry.is_final):
        broken.append(f"round {current} is in progress but has no open round row")
    if current and current >= state["next_round"]:
        broken.append(f"round {current} is in progress but the next id is "
                      f"{state['next_round']}")
    if entry is not None:
        members = participants(ctx, entry.round)
        if len(members) != entry.participants:
            broken.append(f"round {entry.round} lists {entry.participants} participants, "
                          f"has {len(members)}")
        next_index = 1
        for member in sorted(members, key=lambda m: m.first_index):
            if member.first_index != next_index or member.units < 1:
                broken.append(f"round {entry.round}: {member.address}'s share indices do "
                              f"not follow on from {next_index - 1}")
            next_index = member.first_index + member.units
        if next_index - 1 != entry.total_units:
            broken.append(f"round {entry.round}: indices end at {next_index - 1}, "
                          f"total_units is {entry.total_units}")
        if not 1 <= entry.threshold_units <= entry.total_units:
            broken.append(f"round {entry.round}: threshold {entry.threshold_units} outside "
                          f"1..{entry.total_units}")
        dealt = sum(1 for m in members if m.status in INCLUDED_STATUSES)
        if dealt != entry.dealt:
            broken.append(f"round {entry.round} counts {entry.dealt} deals, participants "
                          f"show {dealt}")
    for key, _ in ctx.table(DEALS).scan():
        if key[0] != current:
            broken.append(f"a deal of round {key[0]} outlived its round")
            break
    for key, _ in ctx.table(SHARES).scan():
        if key[0] != current:
            broken.append(f"shares of round {key[0]} outlived their round")
            break
    return broken
