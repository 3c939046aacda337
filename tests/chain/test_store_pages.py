"""The store's paged scan (``start``, ``limit``) returns exactly the rows a full scan would,
whatever a block has written or deleted on top of the committed rows; and a metered
reader stops a query past its budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.modules.gov.tables import DEPOSITS
from abci_app.store import CommittedState, MeteredReader, Overlay, PendingCommit
from abci_app.store.overlay import ReadBudgetExceeded

PROPOSALS = st.integers(1, 3)
DEPOSITORS = st.sampled_from([f"race1{c}" for c in "abcdefgh"])
KEYS = st.tuples(PROPOSALS, DEPOSITORS)


def _committed(rows: dict[tuple[int, str], int]) -> CommittedState:
    committed = CommittedState(None)
    writes = {DEPOSITS: {key: {"amount_nicoin": amount} for key, amount in rows.items()}}
    committed.commit(PendingCommit(1, writes, 0, b"\x00" * 32))  # type: ignore[arg-type]
    return committed


@given(committed_rows=st.dictionaries(KEYS, st.integers(1, 9), max_size=20),
       pending=st.dictionaries(KEYS, st.one_of(st.none(), st.integers(1, 9)), max_size=10),
       prefix=st.one_of(st.just(()), st.tuples(PROPOSALS)),
       start=st.one_of(st.none(), st.tuples(PROPOSALS), KEYS),
       limit=st.one_of(st.none(), st.integers(0, 12)))
@settings(max_examples=120, deadline=None, database=None)
def test_a_paged_scan_is_a_slice_of_the_full_scan(
        committed_rows: dict, pending: dict, prefix: tuple, start: tuple | None,
        limit: int | None) -> None:
    committed = _committed(committed_rows)
    block = Overlay(committed)
    for key, amount in pending.items():
        block.put(DEPOSITS, key, None if amount is None else {"amount_nicoin": amount})
    tx = block.child()

    full = [row for row in tx.scan(DEPOSITS, prefix)
            if start is None or row[0][:len(start)] >= start]
    paged = list(tx.scan(DEPOSITS, prefix, start, limit))

    assert paged == (full if limit is None else full[:limit])
    committed.close()


def test_a_metered_reader_refuses_past_its_budget() -> None:
    committed = _committed({(1, f"race1{c}"): 1 for c in "abcdef"})
    view = Overlay(MeteredReader(committed, 4), read_only=True)

    assert len(list(view.scan(DEPOSITS, (1,), limit=4))) == 4
    with pytest.raises(ReadBudgetExceeded):
        view.get(DEPOSITS, (1, "race1a"))
    committed.close()
