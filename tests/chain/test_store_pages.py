"""The store's paged scan (``start``, ``limit``) returns exactly the rows a full scan would,
whatever a block has written or deleted on top of the committed rows; and a metered
reader stops a query past its budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app.modules.gov.tables import DEPOSITS
from abci_app.store import CommittedState, MeteredReader, Overlay, PendingCommit
from abci_app.store.overlay import ReadBudgetExceeded

PROPOSALS = st.integers(1, 3)
DEPOSITORS = st.sampled_from([f"race1{c}" for c in "abcdefgh"])
KEYS = st.tuples(PROPOSALS, DEPOSITORS)


def _commit_exactly(committed: CommittedState, rows: dict[tuple[int, str], int]) -> None:
    """Make ``rows`` the table's committed rows (the hash is not under test here)."""
    writes: dict = {key: None for key, _ in committed.all_rows(DEPOSITS)}
    writes.update({key: {"amount_nicoin": amount} for key, amount in rows.items()})
    committed.commit(PendingCommit(committed.height + 1, {DEPOSITS: writes}, 0, b"\x00" * 32))


@pytest.fixture(scope="module")
def committed() -> Iterator[CommittedState]:
    """One in-memory store for every example (creating the schema is the slow part)."""
    store = CommittedState(None)
    yield store
    store.close()


@given(committed_rows=st.dictionaries(KEYS, st.integers(1, 9), max_size=20),
       pending=st.dictionaries(KEYS, st.one_of(st.none(), st.integers(1, 9)), max_size=10),
       prefix=st.one_of(st.just(()), st.tuples(PROPOSALS)),
       start=st.one_of(st.none(), st.tuples(PROPOSALS), KEYS),
       limit=st.one_of(st.none(), st.integers(0, 12)))
@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_paged_scan_is_a_slice_of_the_full_scan(
        committed: CommittedState, committed_rows: dict, pending: dict, prefix: tuple,
        start: tuple | None, limit: int | None) -> None:
    _commit_exactly(committed, committed_rows)
    block = Overlay(committed)
    for key, amount in pending.items():
        block.put(DEPOSITS, key, None if amount is None else {"amount_nicoin": amount})
    tx = block.child()

    full = [row for row in tx.scan(DEPOSITS, prefix)
            if start is None or row[0][:len(start)] >= start]
    paged = list(tx.scan(DEPOSITS, prefix, start, limit))

    assert paged == (full if limit is None else full[:limit])


def test_a_metered_reader_refuses_past_its_budget(committed: CommittedState) -> None:
    _commit_exactly(committed, {(1, f"race1{c}"): 1 for c in "abcdef"})
    view = Overlay(MeteredReader(committed, 4), read_only=True)

    assert len(list(view.scan(DEPOSITS, (1,), limit=4))) == 4
    with pytest.raises(ReadBudgetExceeded):
        view.get(DEPOSITS, (1, "race1a"))
