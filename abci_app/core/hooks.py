"""Hooks between modules: who is told when an epoch ends, a proposal opens or closes, a
beacon round opens or yields its output, a Race cycle closes, or an executor's tickets
settle.

Cosmos SDK style: a module that fires a hook never names its subscribers. The app wires
them once, in :func:`abci_app.wiring.hooks`, and the order written there is the order
they run in, on every validator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from abci_app.core.context import Context

EpochEndHook = Callable[[Context, int], None]
ProposalSubmittedHook = Callable[[Context, int, str, Sequence[Message]], None]
ProposalClosedHook = Callable[[Context, int, Sequence[Message], bool], None]
BeaconRoundStartedHook = Callable[[Context, int], None]
BeaconOutputHook = Callable[[Context, int, bytes], None]
RaceCycleClosedHook = Callable[[Context, int], None]


@dataclass(frozen=True)
class SettledTask:
    """One ticket of a settlement, as the chain charged it: a task verifiers may check
    (whitepaper section 6; DESIGN.md section 7.5)."""

    ticket_height: int
    request_id: bytes
    key_hash: bytes
    key_owner: str
    model: str
    relay: bytes
    prompt_hash: bytes
    output_commitment: bytes
    prompt_tokens: int
    completion_tokens: int
    charged: int


TicketsSettledHook = Callable[[Context, str, Sequence[SettledTask]], None]


@dataclass(frozen=True)
class Hooks:
    """The subscribers of each hook, in the order they run.

    * ``epoch_end(ctx, epoch)``: in the FinalizeBlock of an epoch's last block, after the
      block's txs (the epochs module fires it). A validator power change made here
      reaches CometBFT in the same block's ``validator_updates``.
    * ``proposal_submitted(ctx, proposal_id, proposer, messages)``: a governance proposal
      carrying ``messages`` was accepted.
    * ``proposal_closed(ctx, proposal_id, messages, executed)``: its voting or deposit
      period ended; ``executed`` says whether its messages ran.
    * ``beacon_round_started(ctx, round_id)``: the beacon opened a round (its participants
      are fixed); its commit window starts at the next block.
    * ``beacon_output(ctx, round_id, output)``: a round's 32-byte output became final, in
      the FinalizeBlock of the round's last block (the beacon module fires it, for
      completed and failed rounds alike; docs/beacon.md).
    * ``race_cycle_closed(ctx, cycle)``: a Race cycle reached its boundary, in that block's
      FinalizeBlock, after its verdicts and the new power (its catches are final) and
      before the next cycle starts (the race module fires it; docs/race.md, "The cycle").
    * ``tickets_settled(ctx, executor, tasks)``: a settlement of ``executor``'s tickets
      was charged and paid, in the FinalizeBlock (or CheckTx) of its tx (the inference
      module fires it, with every ticket in the settlement's order).
    """

    epoch_end: tuple[EpochEndHook, ...] = ()
    proposal_submitted: tuple[ProposalSubmittedHook, ...] = ()
    proposal_closed: tuple[ProposalClosedHook, ...] = ()
    beacon_round_started: tuple[BeaconRoundStartedHook, ...] = ()
    beacon_output: tuple[BeaconOutputHook, ...] = ()
    race_cycle_closed: tuple[RaceCycleClosedHook, ...] = ()
    tickets_settled: tuple[TicketsSettledHook, ...] = ()

    def run_epoch_end(self, ctx: Context, epoch: int) -> None:
        for hook in self.epoch_end:
            hook(ctx, epoch)

    def run_proposal_submitted(self, ctx: Context, proposal_id: int, proposer: str,
                               messages: Sequence[Message]) -> None:
        for hook in self.proposal_submitted:
            hook(ctx, proposal_id, proposer, messages)

    def run_proposal_closed(self, ctx: Context, proposal_id: int,
                            messages: Sequence[Message], executed: bool) -> None:
        for hook in self.proposal_closed:
            hook(ctx, proposal_id, messages, executed)

    def run_beacon_round_started(self, ctx: Context, round_id: int) -> None:
        for hook in self.beacon_round_started:
            hook(ctx, round_id)

    def run_beacon_output(self, ctx: Context, round_id: int, output: bytes) -> None:
        for hook in self.beacon_output:
            hook(ctx, round_id, output)

    def run_race_cycle_closed(self, ctx: Context, cycle: int) -> None:
        for hook in self.race_cycle_closed:
            hook(ctx, cycle)

    def run_tickets_settled(self, ctx: Context, executor: str,
                            tasks: Sequence[SettledTask]) -> None:
        for hook in self.tickets_settled:
            hook(ctx, executor, tasks)
