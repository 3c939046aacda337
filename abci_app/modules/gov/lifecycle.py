"""End of a deposit or voting period, run in FinalizeBlock after the block's txs.

Only the proposals whose period ends at this height are touched (the deadlines table is
keyed by height), in proposal id order, so the cost is O(proposals due) per block. Then
queued deposit refunds are paid, at most keeper.MAX_REFUNDS_PER_BLOCK per block.
"""

from __future__ import annotations

from dataclasses import replace

from abci_app.core.context import Context
from abci_app.modules.gov import keeper, proposal_messages
from abci_app.modules.gov.tally import TallyOutcome


def end_block(ctx: Context) -> None:
    """Close every period that ends at this block."""
    for proposal_id, period in keeper.due_proposals(ctx):
        keeper.clear_deadline(ctx, proposal_id)
        proposal = keeper.get_proposal(ctx, proposal_id)
        if proposal is None:
            continue
        if period == "deposit" and proposal.status == keeper.DEPOSIT_PERIOD:
            fail_deposit_period(ctx, proposal)
        elif period == "voting" and proposal.status == keeper.VOTING_PERIOD:
            close_voting_period(ctx, proposal)
    keeper.pay_refunds(ctx)


def fail_deposit_period(ctx: Context, proposal: keeper.Proposal) -> None:
    """The minimum deposit was not reached in time: the proposal fails, deposits burn."""
    messages = proposal_messages.decoded(ctx, proposal.packed_messages())
    ctx.registry.hooks.run_proposal_closed(ctx, proposal.id, messages, False)
    keeper.settle_deposits(ctx, proposal, burn=True)
    keeper.save_proposal(ctx, replace(proposal, status=keeper.DEPOSIT_FAILED))
    ctx.emit("proposal_finished", proposal_id=proposal.id, status="deposit_failed",
             total_deposit_nicoin=proposal.total_deposit_nicoin,
             min_deposit_nicoin=ctx.params("gov").min_deposit_nicoin)


def close_voting_period(ctx: Context, proposal: keeper.Proposal) -> None:
    """Tally with today's weights; execute if passed; refund or burn the deposits."""
    result = keeper.current_tally(ctx, proposal)
    final_tally = keeper.tally_proto(result).SerializeToString(deterministic=True)
    status = keeper.OUTCOME_STATUS[result.outcome]
    execution_log = ""
    packed = proposal.packed_messages()
    if result.outcome is TallyOutcome.PASSED:
        execution_log = proposal_messages.try_execute(ctx, proposal.id, packed)
        if execution_log:
            status = keeper.FAILED
            ctx.emit("proposal_execution_failed", proposal_id=proposal.id, log=execution_log)
        else:
            ctx.emit("proposal_executed", proposal_id=proposal.id, kind=proposal.kind)
    ctx.registry.hooks.run_proposal_closed(ctx, proposal.id,
                                           proposal_messages.decoded(ctx, packed),
                                           status == keeper.PASSED)
    keeper.settle_deposits(ctx, proposal, burn=result.outcome is TallyOutcome.VETOED)
    closed = replace(proposal, status=status, final_tally=final_tally,
                     execution_log=execution_log)
    keeper.save_proposal(ctx, closed)
    ctx.emit("proposal_finished", proposal_id=proposal.id, status=closed.status_name,
             outcome=result.outcome.value, yes=result.yes, abstain=result.abstain,
             no=result.no, no_with_veto=result.no_with_veto,
             total_weight=result.total_weight)
