"""An executor keeps each transcript for as long as a verifier or a dispute's voters may ask
for it (docs/verification.md, "The check"): a report may come ``report_window_blocks``
after settlement, and settlement up to ``ticket_validity_blocks`` after the ticket, so
pruning by the ticket validity alone would make an honest executor's late-reported task
unavailable, which its voters count as a failure."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from race_node.agent.executor.settlement import (
    TRANSCRIPT_MARGIN_BLOCKS,
    TRANSCRIPT_WINDOWS,
    SettlementDuty,
)
from race_node.agent.executor.store import ExecutorStore
from race_node.client.queries import QueryFailed
from race_protocol.gen.race.v1 import verification_pb2


class ChainParams:
    """The chain's verification params, as ChainQueries.call answers them."""

    def __init__(self, report_window: int, dispute_window: int, away: bool = False) -> None:
        self.params = verification_pb2.VerificationParams(
            report_window_blocks=report_window, dispute_window_blocks=dispute_window)
        self.away = away

    def call(self, method: str,
             request: object) -> verification_pb2.QueryVerificationParamsResponse:
        assert method == "VerificationParams"
        if self.away:
            raise QueryFailed(0, "", "the node is away", unreachable=True)
        return verification_pb2.QueryVerificationParamsResponse(params=self.params)


def duty(tmp_path: Path, queries: ChainParams) -> SettlementDuty:
    store = ExecutorStore(tmp_path / "inference.sqlite")
    return SettlementDuty(store, SimpleNamespace(queries=queries))  # type: ignore[arg-type]


async def test_transcripts_outlive_the_report_window(tmp_path: Path) -> None:
    kept = await duty(tmp_path, ChainParams(1_000, 20))._transcript_blocks(100)
    assert kept == 100 + 1_000 + 20 + TRANSCRIPT_MARGIN_BLOCKS
    assert kept > TRANSCRIPT_WINDOWS * 100


async def test_a_short_report_window_keeps_ten_ticket_windows(tmp_path: Path) -> None:
    assert await duty(tmp_path, ChainParams(10, 5))._transcript_blocks(100) == 1_000


async def test_nothing_is_pruned_while_the_chain_cannot_say(tmp_path: Path) -> None:
    settlement = duty(tmp_path, ChainParams(1_000, 20, away=True))
    assert await settlement._transcript_blocks(100) is None
