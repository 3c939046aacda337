"""Tallying proposals: quorum, veto, threshold (Cosmos x/gov rules in integers)."""

from abci_app.modules.gov.tally import TallyOutcome, TallyRules, VoteOption, tally

RULES = TallyRules(quorum_ppm=334_000, threshold_ppm=500_000, veto_threshold_ppm=334_000)
YES, NO, ABSTAIN, VETO = (VoteOption.YES, VoteOption.NO, VoteOption.ABSTAIN,
                          VoteOption.NO_WITH_VETO)


def outcome(votes: dict[str, VoteOption], weights: dict[str, int]) -> TallyOutcome:
    return tally(votes, weights, RULES).outcome


def test_majority_yes_passes() -> None:
    assert outcome({"a": YES, "b": YES, "c": NO}, {"a": 1, "b": 1, "c": 1, "d": 1}) \
        is TallyOutcome.PASSED


def test_quorum_missed_rejects_even_if_all_voters_said_yes() -> None:
    assert outcome({"a": YES}, {"a": 33, "b": 67}) is TallyOutcome.REJECTED_QUORUM


def test_quorum_reached_exactly_counts() -> None:
    assert outcome({"a": YES}, {"a": 334, "b": 666}) is TallyOutcome.PASSED


def test_no_votes_at_all_misses_quorum() -> None:
    assert outcome({}, {"a": 1}) is TallyOutcome.REJECTED_QUORUM


def test_abstain_counts_for_quorum_but_not_for_threshold() -> None:
    result = tally({"a": ABSTAIN, "b": YES}, {"a": 90, "b": 5, "c": 5}, RULES)
    assert result.outcome is TallyOutcome.PASSED
    assert (result.voted, result.total_weight) == (95, 100)


def test_everyone_abstaining_rejects() -> None:
    assert outcome({"a": ABSTAIN}, {"a": 1}) is TallyOutcome.REJECTED


def test_exactly_half_yes_is_not_more_than_the_threshold() -> None:
    assert outcome({"a": YES, "b": NO}, {"a": 50, "b": 50}) is TallyOutcome.REJECTED
    assert outcome({"a": YES, "b": NO}, {"a": 51, "b": 49}) is TallyOutcome.PASSED


def test_veto_above_its_threshold_vetoes_despite_a_yes_majority() -> None:
    assert outcome({"a": YES, "b": VETO}, {"a": 65, "b": 35}) is TallyOutcome.VETOED


def test_veto_at_exactly_its_threshold_does_not_veto() -> None:
    assert outcome({"a": YES, "b": VETO}, {"a": 666_000, "b": 334_000}) \
        is TallyOutcome.PASSED


def test_weight_is_read_at_tally_time() -> None:
    # b voted no but holds no weight any more; a's yes decides.
    assert outcome({"a": YES, "b": NO}, {"a": 10, "c": 5}) is TallyOutcome.PASSED


def test_no_with_veto_counts_as_a_no_for_the_threshold() -> None:
    rules = TallyRules(quorum_ppm=0, threshold_ppm=500_000, veto_threshold_ppm=PPM_ALL)
    assert tally({"a": YES, "b": VETO}, {"a": 50, "b": 50}, rules).outcome \
        is TallyOutcome.REJECTED


PPM_ALL = 1_000_000


def test_quorum_is_measured_against_the_whole_chain_weight() -> None:
    # Only the voters' weights are known by account; unlinked validators still count.
    result = tally({"a": YES}, {"a": 30}, RULES, total_weight=100)
    assert result.outcome is TallyOutcome.REJECTED_QUORUM
