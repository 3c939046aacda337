"""State access of the pricing module (whitepaper Appendix J, "Market-driven pricing").

* A provider with voting weight votes a price per unit of compute; its latest vote is kept
  and counts at every epoch end until it votes again (rule 3a).
* At the end of each epoch the weighted median of all weighted providers' votes becomes
  the price of the next epoch (rules 3b, 3c); a provider that never voted counts at the
  price in force, the genesis parameter in the first epoch (rule 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from abci_app.core.context import Context
from abci_app.core.paging import scan_page
from abci_app.modules.epochs import weights
from abci_app.modules.pricing.median import weighted_median
from abci_app.modules.pricing.tables import CURRENT_KEY, PRICE_HISTORY, PRICE_STATE, PRICE_VOTES

# Rows of price history pruned at most per epoch end (docs/modules.md §13).
HISTORY_PRUNE_PER_EPOCH = 100


@dataclass(frozen=True)
class PriceVote:
    """A provider's stored vote."""

    voter: str
    price_per_unit_nicoin: int
    height: int
    epoch: int


@dataclass(frozen=True)
class EpochPrice:
    """The price of one epoch, with the weight that set it."""

    epoch: int
    price_per_unit_nicoin: int
    start_height: int
    voters: int
    total_weight: int


def current_price(ctx: Context) -> int:
    """The price per unit of compute in force, in nicoin."""
    row = ctx.table(PRICE_STATE).get(CURRENT_KEY)
    if row is None:
        return ctx.params("pricing").genesis_price_per_unit_nicoin
    return row["price_per_unit_nicoin"]


def current_price_epoch(ctx: Context) -> int:
    """The epoch whose price is in force (1 before any epoch ended)."""
    row = ctx.table(PRICE_STATE).get(CURRENT_KEY)
    return 1 if row is None else row["epoch"]


def price_vote(ctx: Context, voter: str) -> PriceVote | None:
    """The voter's latest vote, or None if it never voted."""
    row = ctx.table(PRICE_VOTES).get(voter)
    return None if row is None else PriceVote(voter, **row)


def price_votes(ctx: Context) -> list[PriceVote]:
    """Every stored vote, by voter address (genesis export; queries page)."""
    return [PriceVote(key[0], **row) for key, row in ctx.table(PRICE_VOTES).scan()]


def price_votes_page(ctx: Context, first: str, limit: int
                     ) -> tuple[list[PriceVote], str | None]:
    """Up to ``limit`` votes from voter ``first`` on, and the voter the next page starts at."""
    rows, following = scan_page(ctx.table(PRICE_VOTES), start=first or None, limit=limit)
    return [PriceVote(key[0], **row) for key, row in rows], (
        None if following is None else following[0])


def record_vote(ctx: Context, voter: str, price_per_unit_nicoin: int, epoch: int) -> bool:
    """Store ``voter``'s vote, replacing any earlier one; True when it replaced one."""
    votes = ctx.table(PRICE_VOTES)
    replaced = votes.has(voter)
    votes.put(voter, {
        "price_per_unit_nicoin": price_per_unit_nicoin,
        "height": ctx.block.height,
        "epoch": epoch,
    })
    return replaced


def price_history(ctx: Context, newest: int, limit: int) -> tuple[list[EpochPrice], int | None]:
    """Up to ``limit`` epochs' prices from epoch ``newest`` down (0: the current epoch),
    newest first, and the epoch the next page starts at (None past the oldest kept).

    Kept epochs are consecutive (history is pruned from the oldest), so a page is
    ``limit`` point reads, never a scan of the whole history.
    """
    history = ctx.table(PRICE_HISTORY)
    epoch = newest or current_price_epoch(ctx)
    found: list[EpochPrice] = []
    while epoch >= 1 and len(found) < limit:
        row = history.get(epoch)
        if row is None:
            return found, None
        found.append(EpochPrice(epoch, **row))
        epoch -= 1
    return found, epoch if epoch >= 1 and history.has(epoch) else None


def set_epoch_price(ctx: Context, epoch: int, price: int, start_height: int, voters: int,
                    total_weight: int) -> None:
    """Make ``price`` the price of ``epoch`` and prune history beyond ``history_length``."""
    ctx.table(PRICE_STATE).put(CURRENT_KEY, {"epoch": epoch, "price_per_unit_nicoin": price})
    history = ctx.table(PRICE_HISTORY)
    history.put(epoch, {
        "price_per_unit_nicoin": price,
        "start_height": start_height,
        "voters": voters,
        "total_weight": str(total_weight),
    })
    # Prune from the oldest kept epoch, at most HISTORY_PRUNE_PER_EPOCH rows per epoch:
    # after governance shortens history_length, the backlog goes over several epochs
    # instead of in one block (one row is added per epoch, so it shrinks every epoch).
    newest_dropped = epoch - ctx.params("pricing").history_length
    for key, _row in list(history.scan(limit=HISTORY_PRUNE_PER_EPOCH)):
        if key[0] > newest_dropped:
            break
        history.delete(key)


def init_genesis_price(ctx: Context, price: int | None = None) -> None:
    """The first epoch's price: the genesis parameter (Appendix J 4), or the price an
    exported chain had."""
    if price is None:
        price = ctx.params("pricing").genesis_price_per_unit_nicoin
    set_epoch_price(ctx, 1, price, max(ctx.block.height, 1), 0, 0)


def close_epoch(ctx: Context, ending_epoch: int) -> EpochPrice:
    """Set the next epoch's price to the weighted median of the votes (Appendix J 3b-4).

    Every validator with weight counts: with its operator's vote if it voted, otherwise at
    the price in force. The result is capped at ``max_price_per_unit_nicoin``.
    """
    price_now = current_price(ctx)
    pairs: list[tuple[int, int]] = []
    voted = 0
    for account, weight in weights.weighted_voters(ctx):
        vote = price_vote(ctx, account) if account is not None else None
        if vote is not None:
            voted += 1
        pairs.append((vote.price_per_unit_nicoin if vote else price_now, weight))
    total_weight = sum(weight for _, weight in pairs)
    new_price = weighted_median(pairs) if total_weight else price_now
    new_price = min(new_price, ctx.params("pricing").max_price_per_unit_nicoin)
    result = EpochPrice(ending_epoch + 1, new_price, ctx.block.height + 1, voted, total_weight)
    set_epoch_price(ctx, result.epoch, result.price_per_unit_nicoin, result.start_height,
                    result.voters, result.total_weight)
    ctx.emit("price_update", epoch=result.epoch, price_per_unit_nicoin=new_price,
             previous_price_per_unit_nicoin=price_now, voters=voted,
             weighted_providers=len(pairs), total_weight=total_weight,
             start_height=result.start_height)
    return result
