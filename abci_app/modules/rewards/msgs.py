"""Messages of the rewards module: ``MsgSpendFund``, the one way coins leave a fund
(whitepaper Appendix K: the training fund's grants are awarded "through a voting process").

Only the gov module account signs it, that is, only a passed proposal
(``race gov propose grant``) spends the training fund, the community pool, the forfeit
pool, or an allocation held by the module.
"""

from __future__ import annotations

from abci_app.core.authority import governance_authority
from abci_app.core.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.rewards import keeper
from abci_app.modules.rewards.errors import (
    GOVERNANCE_ONLY,
    INSUFFICIENT_FUND,
    INVALID_ADDRESS,
    INVALID_AMOUNT,
    INVALID_PURPOSE,
    UNKNOWN_FUND,
)
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import rewards_pb2

MAX_PURPOSE_CHARS = 256


def validate_basic_spend_fund(msg: rewards_pb2.MsgSpendFund) -> None:
    """A known fund, a valid recipient, a positive amount, a printable purpose."""
    if msg.fund not in keeper.SPENDABLE_FUNDS:
        raise UNKNOWN_FUND(f"no fund {msg.fund!r}; funds: {', '.join(keeper.SPENDABLE_FUNDS)}")
    if not is_valid_address(msg.recipient):
        raise INVALID_ADDRESS(f"recipient {msg.recipient!r} is not a race1... address")
    if msg.amount_nicoin <= 0 or msg.amount_nicoin >= 2**63:
        raise INVALID_AMOUNT("the amount must be positive and below 2^63 nicoin")
    if not 1 <= len(msg.purpose) <= MAX_PURPOSE_CHARS or not msg.purpose.isprintable():
        raise INVALID_PURPOSE(f"the purpose must be 1 to {MAX_PURPOSE_CHARS} printable "
                              "characters")


def handle_spend_fund(ctx: Context, msg: rewards_pb2.MsgSpendFund) -> None:
    """Pay ``amount_nicoin`` from the fund to the recipient; refused unless gov signs."""
    if ctx.signer != governance_authority() or msg.authority != governance_authority():
        raise GOVERNANCE_ONLY("funds are spent by a passed proposal: `race gov propose grant "
                              "FUND RECIPIENT AMOUNT --purpose ...`")
    source = keeper.fund_address(msg.fund)
    held = bank.balance(ctx, source)
    if held < msg.amount_nicoin:
        raise INSUFFICIENT_FUND(f"the {msg.fund} holds {held} nicoin; the grant asks for "
                                f"{msg.amount_nicoin}")
    bank.send(ctx, source, msg.recipient, msg.amount_nicoin)
    ctx.emit("rewards_fund_spent", fund=msg.fund, recipient=msg.recipient,
             amount_nicoin=msg.amount_nicoin, purpose=msg.purpose, proposal=ctx.proposal_id)
