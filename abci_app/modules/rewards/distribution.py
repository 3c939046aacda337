"""Where a settlement's fee shares and the issuance they trigger go (DESIGN.md section 4;
whitepaper section 6 and Appendix K; docs/rewards.md, "The fee split").

The inference settlement splits each charge by its fee-share params
(``abci_app.modules.inference.params.FEE_SHARES``), pays the relay's share itself and hands
the rest here, per model:

* ``executor``: held for the executor until the cycle's release;
* ``verifier``: the cycle's verification pool, divided at release by checks done;
* ``training_fund``, ``community_pool``: paid into those module accounts at once;
* ``model_owner``: paid at once to the model's registry owner (the community pool when the
  model has none);
* ``burn``: destroyed (``bank.burn``).

Then, model by model, the charge mints the batch's issuance (``issuance.mint_for_fees``),
split by the rewards module's issuance shares to the same recipients (issuance is never
burned). Payments are summed per recipient and made in sorted order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.models import keeper as models
from abci_app.modules.rewards import issuance, keeper
from abci_app.modules.rewards.errors import UNKNOWN_KIND
from abci_app.modules.rewards.params import issuance_shares
from race_protocol.inference.fees import split

HOLD = "hold"
POOL = "pool"
PAY = "pay"
BURN = "burn"


def model_owner(ctx: Context, model: str) -> str:
    """Who a model's ``model_owner`` share goes to: its registry owner, else the community
    pool."""
    entry = models.get_model(ctx, model)
    if entry is None or not entry.owner:
        return keeper.community_pool_address()
    return entry.owner


def _route(ctx: Context, share: str, model: str, executor: str) -> tuple[str, str]:
    """(action, address) for one share of a charge."""
    if share == "executor":
        return HOLD, executor
    if share == "verifier":
        return POOL, ""
    if share == "training_fund":
        return PAY, keeper.training_fund_address()
    if share == "community_pool":
        return PAY, keeper.community_pool_address()
    if share == "model_owner":
        return PAY, model_owner(ctx, model)
    if share == "burn":
        return BURN, ""
    raise UNKNOWN_KIND(f"no recipient for the share {share!r}")


Routed = dict[tuple[str, str, str], int]


def _add(ctx: Context, routed: Routed, share: str, model: str, executor: str,
         amount: int) -> None:
    action, address = _route(ctx, share, model, executor)
    routed[(action, address, share)] = routed.get((action, address, share), 0) + amount


def _carry_out(ctx: Context, routed: Routed, *, source: str, cycle: int, held_kind: str,
               origin: str) -> None:
    """Make the routed payments from ``source`` (``origin``: "fees" or "issuance")."""
    from_escrow = source == keeper.escrow_address()
    for (action, address, share), amount in sorted(routed.items()):
        if amount <= 0:
            continue
        if action == HOLD:
            keeper.accrue(ctx, address, cycle, amount, held_kind,
                          source=None if from_escrow else source)
        elif action == POOL:
            keeper.add_to_verification_pool(ctx, cycle, amount,
                                            source=None if from_escrow else source)
        elif action == PAY:
            bank.send(ctx, source, address, amount)
            ctx.emit("rewards_share_paid", share=share, origin=origin, recipient=address,
                     amount_nicoin=amount)
        else:
            bank.burn(ctx, source, amount)
            ctx.emit("rewards_share_burned", share=share, origin=origin, amount_nicoin=amount)


def distribute_fees(ctx: Context, *, source: str, executor: str,
                    charged_by_model: Mapping[str, int],
                    shares_by_model: Mapping[str, Sequence[tuple[str, int]]],
                    tasks: int, units: int) -> int:
    """Route one settlement's shares (all but the relay's, which the settlement pays) from
    ``source`` (the inference escrow), record the executor's work, and mint and route the
    issuance its charges trigger. ``charged_by_model``: what the settlement charged per
    model; ``shares_by_model``: per model, ``(share, nicoin)`` to route. Returns the
    issuance minted."""
    cycle = keeper.current_cycle(ctx)
    keeper.record_work(ctx, executor, cycle, tasks, units)
    fees_routed: Routed = {}
    for model in sorted(shares_by_model):
        for share, amount in shares_by_model[model]:
            _add(ctx, fees_routed, share, model, executor, amount)
    _carry_out(ctx, fees_routed, source=source, cycle=cycle, held_kind=keeper.EXECUTOR,
               origin="fees")
    shares = issuance_shares(ctx.params("rewards"))
    minted_routed: Routed = {}
    minted_total = 0
    for model in sorted(charged_by_model):
        minted = issuance.mint_for_fees(ctx, charged_by_model[model])
        minted_total += minted
        for share, amount in split(minted, shares):
            _add(ctx, minted_routed, share, model, executor, amount)
    _carry_out(ctx, minted_routed, source=keeper.escrow_address(), cycle=cycle,
               held_kind=keeper.ISSUANCE, origin="issuance")
    fees_total = sum(charged_by_model.values())
    if fees_total or minted_total:
        keeper.add_to_cycle(ctx, keeper.open_cycle(ctx, cycle), fees=fees_total,
                            issuance=minted_total)
    return minted_total
