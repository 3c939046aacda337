"""The tx pipeline: can a tx enter the mempool, and what it does in a block (docs/modules.md §9).

Two separate rules, as the execution specs write them:

* :meth:`TxPipeline.check_transaction` (CheckTx): stateless checks, the ante handler
  (sequence, fee) and the messages, all on a branch of the mempool's state that merges
  only when everything passed, so a refused tx leaves the mempool state as it was. A
  recheck after a commit runs the stateless checks and the ante only.
* :meth:`TxPipeline.deliver_transaction` (FinalizeBlock): stateless checks, then the ante
  on a branch of the block that merges when the ante passes (the fee is paid and the
  sequence consumed even if a message then fails, or a spammer could fill blocks for
  free), then every message on a second branch that merges only when all of them pass.
  A tx whose first message writes and whose second fails leaves no message write behind.

No exception leaves either function: a refusal is a code and a log, and a crash inside a
handler is a bug, refused identically on every validator.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from abci_app.core.context import Context, Event
from abci_app.core.errors import INTERNAL, ChainError
from abci_app.core.registry import ModuleRegistry
from abci_app.core.stateless import CheckedTx, EnvelopeLimits, check_stateless, remember_checked
from abci_app.tx.codec import DecodedTx

log = logging.getLogger("race.app")

AnteHandler = Callable[[Context, DecodedTx], None]
EnvelopeLimitsOf = Callable[[Context], EnvelopeLimits]


@dataclass
class TxOutcome:
    """What one tx did: its ABCI code, codespace, log and events."""

    code: int = 0
    codespace: str = ""
    log: str = ""
    events: list[Event] = field(default_factory=list)

    @classmethod
    def refused(cls, error: ChainError, events: list[Event] | None = None) -> TxOutcome:
        return cls(error.code, error.codespace, error.log, events or [])


class _Refused(Exception):
    def __init__(self, outcome: TxOutcome) -> None:
        self.outcome = outcome


@dataclass(frozen=True)
class TxPipeline:
    """The rules every tx passes, with the app's ante handler and envelope limits."""

    registry: ModuleRegistry
    envelope_limits: EnvelopeLimitsOf
    ante: AnteHandler

    def check_transaction(self, ctx: Context, tx_bytes: bytes, recheck: bool = False
                          ) -> TxOutcome:
        """May this tx enter the mempool on top of the txs already there?"""
        try:
            checked = self._stateless(ctx, tx_bytes)
            ante = self._ante(ctx, checked.decoded)
            if not recheck:
                # The messages ran at first CheckTx; a recheck only asks whether the
                # sequence and fee still hold after the last block.
                ante.merge(self._messages(ante, checked))
        except _Refused as refused:
            return refused.outcome
        ante.state.merge_into_parent()
        # Only an admitted tx keeps its decoded form for FinalizeBlock: a refused one
        # (an unfunded signer's) must not cost the node memory (abci_app.core.stateless).
        self.remember(ctx, checked)
        return TxOutcome()

    def remember(self, ctx: Context, checked: CheckedTx) -> None:
        """Keep an admitted tx's stateless verdict for the block that will carry it."""
        remember_checked(checked, ctx.block.chain_id, self.envelope_limits(ctx), self.registry)

    def check_included(self, ctx: Context, tx_bytes: bytes
                       ) -> tuple[TxOutcome, CheckedTx | None]:
        """May a proposed block carry this tx? Its stateless checks only (docs/modules.md §9).

        They are a pure function of the tx, the chain id and the envelope limits, so every
        validator gives the same verdict; what the state decides (sequence, fee, the
        messages) gets a code in FinalizeBlock instead.
        """
        try:
            return TxOutcome(), self._stateless(ctx, tx_bytes)
        except _Refused as refused:
            return refused.outcome, None

    def deliver_transaction(self, ctx: Context, tx_bytes: bytes) -> TxOutcome:
        """Execute a tx of a decided block; its events go on its own result, not the block's."""
        try:
            checked = self._stateless(ctx, tx_bytes)
            ante = self._ante(ctx, checked.decoded)
        except _Refused as refused:
            return refused.outcome
        try:
            body = self._messages(ante, checked)
        except _Refused as refused:
            ante.state.merge_into_parent()  # the fee and the sequence stay paid
            refused.outcome.events = ante.events
            return refused.outcome
        ante.merge(body)
        ante.state.merge_into_parent()
        return TxOutcome(events=ante.events)

    # --- the three stages ----------------------------------------------------------------

    def _stateless(self, ctx: Context, tx_bytes: bytes) -> CheckedTx:
        try:
            return check_stateless(tx_bytes, ctx.block.chain_id, self.envelope_limits(ctx),
                                   self.registry)
        except ChainError as refusal:
            raise _Refused(TxOutcome.refused(refusal)) from None
        except Exception:  # a bug, never a tx's fault: refuse the tx identically everywhere
            log.error("stateless check crashed:\n%s", traceback.format_exc())
            raise _Refused(TxOutcome.refused(INTERNAL("the app failed to check this tx"))
                           ) from None

    def _ante(self, ctx: Context, tx: DecodedTx) -> Context:
        ante = ctx.branch(signer=tx.signer, tx_hash=tx.hash)
        try:
            self.ante(ante, tx)
        except ChainError as refusal:
            raise _Refused(TxOutcome.refused(refusal)) from None
        except Exception:
            log.error("ante handler crashed:\n%s", traceback.format_exc())
            raise _Refused(TxOutcome.refused(INTERNAL("the app failed to check this tx"))
                           ) from None
        ante.emit("tx", signer=tx.signer, sequence=tx.sequence, fee=tx.fee_nicoin)
        return ante

    def _messages(self, ante: Context, checked: CheckedTx) -> Context:
        body = ante.branch()
        try:
            for index, (route, message) in enumerate(checked.messages):
                module_name = self.registry.module_of(route.type_url)
                body.emit("message", index=index, module=module_name, action=route.type_url)
                route.handler(body, message)
        except ChainError as failure:
            raise _Refused(TxOutcome.refused(failure)) from None
        except Exception:
            log.error("message handler crashed:\n%s", traceback.format_exc())
            raise _Refused(TxOutcome.refused(INTERNAL("a message handler failed"))) from None
        return body
