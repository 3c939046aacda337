"""Tallying a proposal's votes, weighted by voting weight at tally time.

Whitepaper Appendix J, "Decentralized Model Registration Process": votes are cast to approve
or reject; DESIGN.md section 1: "a proposal with a deposit, voted by weight". The rules
follow the Cosmos SDK's x/gov, in integers only (ratios are parts per million, ``PPM``):

1. Quorum: the weight that voted (yes + no + abstain + no-with-veto) must be at least
   ``quorum`` of the total voting weight. Missing quorum rejects the proposal.
2. Veto: if no-with-veto is strictly more than ``veto_threshold`` of the weight that voted,
   the proposal is vetoed (its deposits are burned).
3. Threshold: the proposal passes if yes is strictly more than ``threshold`` of the weight
   that voted other than abstain; otherwise it is rejected. A proposal where everyone
   abstained is rejected.

A vote counts with the voter's weight when the tally runs, not when the vote was cast, so a
voter that lost its weight by then counts for nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

PPM = 1_000_000


class VoteOption(enum.IntEnum):
    """A voter's choice; the numbers are the wire values in ``race.v1.VoteOption``."""

    YES = 1
    ABSTAIN = 2
    NO = 3
    NO_WITH_VETO = 4


class TallyOutcome(enum.Enum):
    """Why a tally ended the way it did."""

    PASSED = "passed"
    REJECTED = "rejected"
    REJECTED_QUORUM = "rejected_quorum"
    VETOED = "vetoed"


@dataclass(frozen=True)
class TallyRules:
    """The chain parameters a tally reads, each in parts per million."""

    quorum_ppm: int
    threshold_ppm: int
    veto_threshold_ppm: int


@dataclass(frozen=True)
class TallyResult:
    """Weight per option, the total weight of the chain, and the outcome."""

    yes: int
    abstain: int
    no: int
    no_with_veto: int
    total_weight: int
    outcome: TallyOutcome

    @property
    def voted(self) -> int:
        """All weight that cast a vote, abstain included (counts towards quorum)."""
        return self.yes + self.abstain + self.no + self.no_with_veto


def tally(
    votes: Mapping[str, VoteOption],
    weights: Mapping[str, int],
    rules: TallyRules,
    total_weight: int | None = None,
) -> TallyResult:
    """Count ``votes`` with ``weights`` (voting weight now, by account) under ``rules``.

    ``total_weight`` is the weight of the whole chain, voters or not; by default the sum of
    ``weights``.
    """
    counted = {option: 0 for option in VoteOption}
    for voter in sorted(votes):
        counted[votes[voter]] += weights.get(voter, 0)
    if total_weight is None:
        total_weight = sum(weights[voter] for voter in sorted(weights))
    yes = counted[VoteOption.YES]
    abstain = counted[VoteOption.ABSTAIN]
    no = counted[VoteOption.NO]
    veto = counted[VoteOption.NO_WITH_VETO]
    voted = yes + abstain + no + veto
    outcome = _outcome(yes, abstain, veto, voted, total_weight, rules)
    return TallyResult(yes, abstain, no, veto, total_weight, outcome)


def _outcome(
    yes: int, abstain: int, veto: int, voted: int, total_weight: int, rules: TallyRules
) -> TallyOutcome:
    """Apply quorum, veto and threshold in that order (see the module docstring)."""
    if voted == 0 or voted * PPM < rules.quorum_ppm * total_weight:
        return TallyOutcome.REJECTED_QUORUM
    if veto * PPM > rules.veto_threshold_ppm * voted:
        return TallyOutcome.VETOED
    deciding = voted - abstain
    if deciding == 0:
        return TallyOutcome.REJECTED
    if yes * PPM > rules.threshold_ppm * deciding:
        return TallyOutcome.PASSED
    return TallyOutcome.REJECTED
