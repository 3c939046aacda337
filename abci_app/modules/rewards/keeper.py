"""State access of the rewards module: held rewards, the pools, reputation (whitepaper
section 6, "Reward accumulation and distribution", "Reputation", "Bounty reward"; DESIGN.md
section 8; docs/rewards.md). The only code that reads or writes the rewards tables.

Nodes are named by their operator account (bech32), as in the race and inference modules.

**The interface other modules code against** (the verification module, the inference
settlement):

* :func:`accrue`: a node's reward for a cycle goes into escrow, held until the cycle's
  release (kinds :data:`EXECUTOR`, :data:`VERIFIER`, :data:`ISSUANCE`);
* :func:`add_to_verification_pool`: verifiers' shares, divided at release by checks done;
* :func:`record_work`, :func:`record_verification`, :func:`record_false_flag`,
  :func:`record_caught`: what the release rules read;
* :func:`pay_bounty`, :func:`refund_developer`, :func:`reward_from_forfeits`: payments
  out of the forfeit pool;
* :func:`reputation`, :func:`held_rewards`.

**Invariant** (:func:`broken_invariants`): the escrow account holds exactly the held rows
plus the verification pools of unreleased cycles.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any

from abci_app.core import cursors
from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.race import keeper as race
from abci_app.modules.rewards.errors import INVALID_AMOUNT, UNKNOWN_KIND
from abci_app.modules.rewards.tables import (
    BOUNTIES,
    CYCLE_NODES,
    CYCLES,
    HELD,
    REPUTATION,
    STATE,
)
from abci_app.tx.keys import module_address

PPM = 1_000_000

# Kinds of held rewards. The validation share is the VERIFIER kind plus the node's part of
# the cycle's verification pool; the rest is pay for work.
EXECUTOR = "executor"
VERIFIER = "verifier"
ISSUANCE = "issuance"
KINDS = (EXECUTOR, VERIFIER, ISSUANCE)

# Module accounts (no key signs for them).
ESCROW = "rewards_escrow"
FORFEIT_POOL = "rewards_forfeit_pool"
TRAINING_FUND = "rewards_training_fund"
COMMUNITY_POOL = "rewards_community_pool"
# The funds governance can spend (MsgSpendFund), by name; the allocations' accounts join
# them at genesis (tokenomics.allocation_account).
SPENDABLE_FUNDS = ("training_fund", "community_pool", "forfeit_pool", "founders",
                   "top_providers", "liquidity_pool")

# Release outcomes (rewards_cycle_nodes.outcome), joined by "," when several apply.
PENDING = "pending"
RELEASED = "released"
CAUGHT = "caught"
VALIDATION_LOST = "validation_share_lost"
WORK_SHORT = "work_short"


@cache
def fund_address(name: str) -> str:
    """The module account of fund ``name`` (``training_fund``, ``community_pool``, ...)."""
    return module_address(f"rewards_{name}")


def escrow_address() -> str:
    """Where held rewards and verification pools wait for their release."""
    return fund_address("escrow")


def forfeit_pool_address() -> str:
    """Forfeited and withheld rewards: developers' refunds and bounties are paid from it."""
    return fund_address("forfeit_pool")


def training_fund_address() -> str:
    """Appendix K: the training fund, spent only by governance."""
    return fund_address("training_fund")


def community_pool_address() -> str:
    """The community pool (DLLM's community address), spent only by governance."""
    return fund_address("community_pool")


# --- state values ---------------------------------------------------------------------------

def state_value(ctx: Context, name: str) -> int:
    return cursors.get(ctx, STATE, name)


def set_state_value(ctx: Context, name: str, value: int) -> None:
    """Write a value (0 removes it); an unchanged one is not rewritten."""
    cursors.put(ctx, STATE, name, value)


def all_state(ctx: Context) -> dict[str, int]:
    return {str(key[0]): int(row["value"]) for key, row in ctx.table(STATE).scan()}


RELEASED_THROUGH = "released_through"


def released_through(ctx: Context) -> int:
    """The last cycle whose rewards were released (cycles are released in order)."""
    return state_value(ctx, RELEASED_THROUGH)


def current_cycle(ctx: Context) -> int:
    """The race module's cycle in progress (0 before genesis)."""
    cycle = race.current_cycle(ctx)
    return 0 if cycle is None else cycle.cycle


def open_cycle(ctx: Context, cycle: int) -> int:
    """The cycle an accrual or a record for ``cycle`` lands in: ``cycle`` while it is held;
    the oldest cycle still held once it was released; never past the cycle in progress."""
    first_open = released_through(ctx) + 1
    return min(max(cycle, first_open), max(current_cycle(ctx), first_open))


# --- cycles and nodes -----------------------------------------------------------------------

@dataclass(frozen=True)
class CycleTotals:
    """One cycle's totals (``rewards_cycles``)."""

    cycle: int
    weight: int = 0
    tasks: int = 0
    units: int = 0
    fees: int = 0
    issuance: int = 0
    minimum_issuance: int = 0
    accrued: int = 0
    verification_pool: int = 0
    released: int = 0
    forfeited: int = 0
    bounties: int = 0
    release_height: int = 0

    def as_json(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items()}


def get_cycle(ctx: Context, cycle: int) -> CycleTotals:
    row = ctx.table(CYCLES).get(cycle)
    return CycleTotals(cycle) if row is None else CycleTotals(cycle, **row)


def has_cycle(ctx: Context, cycle: int) -> bool:
    return ctx.table(CYCLES).has(cycle)


def put_cycle(ctx: Context, totals: CycleTotals) -> CycleTotals:
    row = {k: v for k, v in asdict(totals).items() if k != "cycle"}
    ctx.table(CYCLES).put(totals.cycle, row)
    return totals


def add_to_cycle(ctx: Context, cycle: int, **amounts: int) -> CycleTotals:
    totals = get_cycle(ctx, cycle)
    return put_cycle(ctx, replace(totals, **{k: getattr(totals, k) + v
                                            for k, v in amounts.items()}))


def cycles(ctx: Context) -> Iterator[CycleTotals]:
    """Every cycle with a row, oldest first."""
    for key, row in ctx.table(CYCLES).scan():
        yield CycleTotals(int(key[0]), **row)


@dataclass(frozen=True)
class NodeCycle:
    """A node's part in one cycle (``rewards_cycle_nodes``)."""

    cycle: int
    node: str
    weight: int = 0
    tasks: int = 0
    units: int = 0
    drawn: int = 0
    done: int = 0
    false_flags: int = 0
    caught: bool = False
    caught_reason: str = ""
    outcome: str = PENDING
    released: int = 0
    forfeited: int = 0

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {name: str(value) for name, value in asdict(self).items()}
        document["caught"] = self.caught
        return document


def get_node(ctx: Context, cycle: int, node: str) -> NodeCycle:
    row = ctx.table(CYCLE_NODES).get((cycle, node))
    return NodeCycle(cycle, node) if row is None else NodeCycle(cycle, node, **row)


def put_node(ctx: Context, entry: NodeCycle) -> NodeCycle:
    row = {k: v for k, v in asdict(entry).items() if k not in ("cycle", "node")}
    ctx.table(CYCLE_NODES).put((entry.cycle, entry.node), row)
    return entry


def update_node(ctx: Context, cycle: int, node: str, **changes: Any) -> NodeCycle:
    return put_node(ctx, replace(get_node(ctx, cycle, node), **changes))


def nodes_of(ctx: Context, cycle: int) -> list[NodeCycle]:
    """A cycle's node rows, by address."""
    return [NodeCycle(cycle, str(key[1]), **row)
            for key, row in ctx.table(CYCLE_NODES).scan(prefix=(cycle,))]


def all_nodes(ctx: Context) -> Iterator[NodeCycle]:
    for key, row in ctx.table(CYCLE_NODES).scan():
        yield NodeCycle(int(key[0]), str(key[1]), **row)


def node_history(ctx: Context, node: str, cycle_ids: list[int]) -> list[NodeCycle]:
    """The node's rows in the given cycles (those it has one in)."""
    return [get_node(ctx, c, node) for c in cycle_ids if ctx.table(CYCLE_NODES).has((c, node))]


# --- reputation -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Reputation:
    """A node's reputation and record (``rewards_reputation``)."""

    node: str
    reputation: int = 0
    clean_cycles: int = 0
    caught_cycles: int = 0
    last_caught_cycle: int = 0
    false_flags: int = 0
    pending_lapses: int = 0

    def as_json(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items()}


def get_reputation(ctx: Context, node: str) -> Reputation:
    row = ctx.table(REPUTATION).get(node)
    return Reputation(node) if row is None else Reputation(node, **row)


def put_reputation(ctx: Context, entry: Reputation) -> None:
    ctx.table(REPUTATION).put(entry.node, {k: v for k, v in asdict(entry).items()
                                           if k != "node"})


def all_reputations(ctx: Context) -> Iterator[Reputation]:
    for key, row in ctx.table(REPUTATION).scan():
        yield Reputation(str(key[0]), **row)


def reputation(ctx: Context, node: str) -> int:
    """Whitepaper section 6, "Reputation": 0 for a new node, one more for each clean cycle,
    back to 0 when it is caught. Lower reputation means more checks."""
    return get_reputation(ctx, node).reputation


# --- held rewards ---------------------------------------------------------------------------

def held_by_kind(ctx: Context, cycle: int, node: str) -> dict[str, int]:
    return {str(key[2]): int(row["amount"])
            for key, row in ctx.table(HELD).scan(prefix=(cycle, node))}


def held_rewards(ctx: Context, node: str, cycle: int) -> int:
    """What ``node`` holds in escrow for ``cycle`` (its part of the cycle's verification
    pool is decided at release and not counted here)."""
    return sum(held_by_kind(ctx, cycle, node).values())


def held_rows(ctx: Context) -> Iterator[tuple[int, str, str, int]]:
    """Every held row: (cycle, node, kind, amount)."""
    for key, row in ctx.table(HELD).scan():
        yield int(key[0]), str(key[1]), str(key[2]), int(row["amount"])


def _add_held(ctx: Context, cycle: int, node: str, kind: str, amount: int) -> None:
    held = ctx.table(HELD)
    row = held.get((cycle, node, kind))
    held.put((cycle, node, kind), {"amount": amount + (0 if row is None else row["amount"])})


def take_held(ctx: Context, cycle: int, node: str) -> dict[str, int]:
    """Remove and return the node's held rows of the cycle, by kind."""
    taken = held_by_kind(ctx, cycle, node)
    for kind in taken:
        ctx.table(HELD).delete((cycle, node, kind))
    return taken


def _check_amount(amount: int) -> None:
    if amount < 0:
        raise INVALID_AMOUNT(f"a reward cannot be negative, got {amount}")


def accrue(ctx: Context, node: str, cycle: int, amount_nicoin: int, kind: str, *,
           source: str | None = None) -> int:
    """Hold ``amount_nicoin`` for ``node`` until ``cycle``'s release (whitepaper section 6:
    "rewards for completed tasks accumulate during the cycle between races, awaiting full
    verification").

    With ``source`` the coins are moved from that account into escrow here; without it the
    caller has already put them in escrow (:func:`escrow_address`). A cycle already released
    holds nothing new: the reward lands in the oldest cycle still held. A node caught in that
    cycle forfeits the reward at once. Returns the cycle it landed in.
    """
    if kind not in KINDS:
        raise UNKNOWN_KIND(f"reward kind {kind!r}; kinds: {', '.join(KINDS)}")
    _check_amount(amount_nicoin)
    target = open_cycle(ctx, cycle)
    if amount_nicoin == 0:
        return target
    if source is not None:
        bank.send(ctx, source, escrow_address(), amount_nicoin)
    entry = get_node(ctx, target, node)
    if entry.caught:
        bank.send(ctx, escrow_address(), forfeit_pool_address(), amount_nicoin)
        put_node(ctx, replace(entry, forfeited=entry.forfeited + amount_nicoin))
        add_to_cycle(ctx, target, forfeited=amount_nicoin)
        ctx.emit("rewards_forfeited", node=node, cycle=target, kind=kind,
                 amount_nicoin=amount_nicoin, reason="caught in this cycle")
        return target
    put_node(ctx, entry)
    _add_held(ctx, target, node, kind, amount_nicoin)
    add_to_cycle(ctx, target, accrued=amount_nicoin)
    ctx.emit("rewards_accrued", node=node, cycle=target, kind=kind,
             amount_nicoin=amount_nicoin)
    return target


def add_to_verification_pool(ctx: Context, cycle: int, amount_nicoin: int, *,
                             source: str | None = None) -> int:
    """Verifiers' shares of a cycle's fees and issuance: divided at release among the
    nodes by the checks they did (:func:`record_verification`). Returns the cycle."""
    _check_amount(amount_nicoin)
    target = open_cycle(ctx, cycle)
    if amount_nicoin == 0:
        return target
    if source is not None:
        bank.send(ctx, source, escrow_address(), amount_nicoin)
    add_to_cycle(ctx, target, verification_pool=amount_nicoin)
    ctx.emit("rewards_verification_pool", cycle=target, amount_nicoin=amount_nicoin)
    return target


def record_work(ctx: Context, node: str, cycle: int, tasks: int, units: int) -> None:
    """``node`` executed ``tasks`` paid tasks of ``units`` units of compute in ``cycle``
    (whitepaper section 6, "Workload proof")."""
    if tasks < 0 or units < 0:
        raise INVALID_AMOUNT("tasks and units cannot be negative")
    if tasks == 0 and units == 0:
        return
    target = open_cycle(ctx, cycle)
    entry = get_node(ctx, target, node)
    put_node(ctx, replace(entry, tasks=entry.tasks + tasks, units=entry.units + units))
    add_to_cycle(ctx, target, tasks=tasks, units=units)


def record_verification(ctx: Context, node: str, cycle: int, drawn: int, done: int) -> None:
    """The verifier ``node`` was drawn for ``drawn`` tasks of ``cycle`` and checked ``done``
    of them (DESIGN.md section 8; the issue's item 1). A node that skipped any loses its
    validation share at release. Recorded for a cycle already released, a skip costs the
    node its validation share at its next release instead."""
    if drawn < 0 or done < 0:
        raise INVALID_AMOUNT("drawn and done cannot be negative")
    if cycle <= released_through(ctx):
        if done < drawn:
            entry = get_reputation(ctx, node)
            put_reputation(ctx, replace(entry, pending_lapses=entry.pending_lapses + 1))
        target = open_cycle(ctx, cycle)
    else:
        target = open_cycle(ctx, cycle)
        entry_node = get_node(ctx, target, node)
        put_node(ctx, replace(entry_node, drawn=entry_node.drawn + drawn,
                              done=entry_node.done + done))
    ctx.emit("rewards_verification", node=node, cycle=cycle, recorded_in=target, drawn=drawn,
             done=done)


def record_false_flag(ctx: Context, node: str, cycle: int) -> None:
    """``node`` flagged a result that re-verification cleared (DESIGN.md section 8): more
    than ``max_false_flags_per_cycle`` in a cycle cost its validation share."""
    target = open_cycle(ctx, cycle)
    entry = get_node(ctx, target, node)
    put_node(ctx, replace(entry, false_flags=entry.false_flags + 1))
    record = get_reputation(ctx, node)
    put_reputation(ctx, replace(record, false_flags=record.false_flags + 1))
    ctx.emit("rewards_false_flag", node=node, cycle=target, false_flags=entry.false_flags + 1)


def record_caught(ctx: Context, node: str, cycle: int, reason: str) -> int:
    """Whitepaper section 6: "If a node is caught producing false results, it forfeits all
    rewards earned during that cycle", and its reputation is reset to 0.

    The node's held rewards of ``cycle`` go to the forfeit pool and whatever it would still
    earn in that cycle follows them; its part of the cycle's verification pool is lost at
    release. When ``cycle`` was already released, the oldest cycle still held is forfeited
    instead. Idempotent per cycle. Returns what was forfeited now.
    """
    target = open_cycle(ctx, cycle)
    entry = get_node(ctx, target, node)
    if entry.caught:
        return 0
    taken = take_held(ctx, target, node)
    forfeited = sum(taken.values())
    if forfeited:
        bank.send(ctx, escrow_address(), forfeit_pool_address(), forfeited)
        add_to_cycle(ctx, target, forfeited=forfeited)
    put_node(ctx, replace(entry, caught=True, caught_reason=reason, outcome=CAUGHT,
                          forfeited=entry.forfeited + forfeited))
    record = get_reputation(ctx, node)
    put_reputation(ctx, replace(record, reputation=0, caught_cycles=record.caught_cycles + 1,
                                last_caught_cycle=target))
    ctx.emit("rewards_caught", node=node, cycle=target, reason=reason,
             forfeited_nicoin=forfeited)
    ctx.emit("rewards_reputation", node=node, reputation=0, reason="caught")
    return forfeited


def was_caught(ctx: Context, node: str, cycle: int) -> bool:
    return get_node(ctx, cycle, node).caught


# --- payments from the forfeit pool ---------------------------------------------------------

def forfeit_pool_balance(ctx: Context) -> int:
    return bank.balance(ctx, forfeit_pool_address())


def average_earnings(ctx: Context, cycle: int) -> int:
    """What an average node earns in ``cycle``: everything accrued to nodes and to the
    verification pool, over the nodes taking part (weighted, or paid)."""
    totals = get_cycle(ctx, cycle)
    nodes = sum(1 for entry in nodes_of(ctx, cycle) if entry.weight > 0 or entry.tasks > 0
                or entry.done > 0)
    return (totals.accrued + totals.verification_pool) // max(nodes, 1)


def bounty_cap(ctx: Context, reporter: str, cycle: int) -> int:
    """What ``reporter`` may still be paid in bounties for ``cycle``: a share
    (``bounty_cap_ppm`` < 10^6) of an average node's earnings in it, less what it was paid
    (whitepaper section 6, "Bounty reward": never more than honest participation earns)."""
    cap = average_earnings(ctx, cycle) * ctx.params("rewards").bounty_cap_ppm // PPM
    row = ctx.table(BOUNTIES).get((cycle, reporter))
    return max(0, cap - (0 if row is None else int(row["paid"])))


def pay_bounty(ctx: Context, reporter: str, cycle: int, amount_nicoin: int) -> int:
    """Pay ``reporter`` a bounty from the forfeit pool, capped by :func:`bounty_cap` and by
    what the pool holds; returns what was paid (it may be 0)."""
    _check_amount(amount_nicoin)
    paid = min(amount_nicoin, bounty_cap(ctx, reporter, cycle), forfeit_pool_balance(ctx))
    if paid <= 0:
        ctx.emit("rewards_bounty", reporter=reporter, cycle=cycle, asked_nicoin=amount_nicoin,
                 paid_nicoin=0)
        return 0
    bank.send(ctx, forfeit_pool_address(), reporter, paid)
    row = ctx.table(BOUNTIES).get((cycle, reporter))
    ctx.table(BOUNTIES).put((cycle, reporter),
                            {"paid": paid + (0 if row is None else int(row["paid"]))})
    if has_cycle(ctx, cycle):
        add_to_cycle(ctx, cycle, bounties=paid)
    ctx.emit("rewards_bounty", reporter=reporter, cycle=cycle, asked_nicoin=amount_nicoin,
             paid_nicoin=paid)
    return paid


def refund_developer(ctx: Context, recipient: str, amount_nicoin: int, cycle: int) -> int:
    """Whitepaper section 6, "Bounty reward": a user's payment for a result found malicious
    is reimbursed, out of the forfeited rewards (so it never funds a bounty). Pays
    ``recipient`` (the developer, or the inference escrow for the key's budget) from the
    forfeit pool, at most what it holds; returns what was paid."""
    _check_amount(amount_nicoin)
    paid = min(amount_nicoin, forfeit_pool_balance(ctx))
    if paid > 0:
        bank.send(ctx, forfeit_pool_address(), recipient, paid)
    ctx.emit("rewards_refund", recipient=recipient, cycle=cycle, asked_nicoin=amount_nicoin,
             paid_nicoin=paid)
    return paid


def reward_from_forfeits(ctx: Context, node: str, cycle: int, amount_nicoin: int,
                         kind: str) -> int:
    """Hold a reward for ``node`` paid out of the forfeit pool (e.g. the verifiers of a
    report that stands share the malicious node's forfeited rewards, section 6
    "User-driven oversight"), at most what the pool holds; returns what was held."""
    _check_amount(amount_nicoin)
    amount = min(amount_nicoin, forfeit_pool_balance(ctx))
    if amount > 0:
        accrue(ctx, node, cycle, amount, kind, source=forfeit_pool_address())
    return amount


# --- bounties and pruning ---------------------------------------------------------------

def all_bounties(ctx: Context) -> Iterator[tuple[int, str, int]]:
    for key, row in ctx.table(BOUNTIES).scan():
        yield int(key[0]), str(key[1]), int(row["paid"])


def put_bounty(ctx: Context, cycle: int, reporter: str, paid: int) -> None:
    ctx.table(BOUNTIES).put((cycle, reporter), {"paid": paid})


def delete_cycle_rows(ctx: Context, cycle: int) -> None:
    """Drop a released cycle's summaries (its held rows are gone at release)."""
    for table in (CYCLE_NODES, BOUNTIES):
        for key, _ in list(ctx.table(table).scan(prefix=(cycle,))):
            ctx.table(table).delete(key)
    ctx.table(CYCLES).delete(cycle)


# --- the invariant ----------------------------------------------------------------------

def broken_invariants(ctx: Context) -> list[str]:
    """Escrow holds exactly the held rows and the unreleased verification pools."""
    broken = []
    held = sum(amount for _, _, _, amount in held_rows(ctx))
    through = released_through(ctx)
    pools = sum(totals.verification_pool for totals in cycles(ctx) if totals.cycle > through)
    escrow = bank.balance(ctx, escrow_address())
    if escrow != held + pools:
        broken.append(f"rewards escrow holds {escrow} nicoin but {held} is held and "
                      f"{pools} is in verification pools")
    stale = sorted({cycle for cycle, _, _, _ in held_rows(ctx) if cycle <= through})
    if stale:
        broken.append(f"released cycles still hold rewards: {stale}")
    return broken
