"""New-block notifications over CometBFT's websocket, through a node restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from race_node.client.events import BlockSubscription
from tests.client.live_node import start_node

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def collect(heights: AsyncIterator[int], into: asyncio.Queue[int]) -> None:
    async for height in heights:
        await into.put(height)


async def next_heights(queue: asyncio.Queue[int], count: int) -> list[int]:
    return [await asyncio.wait_for(queue.get(), timeout=20) for _ in range(count)]


async def test_heights_keep_coming_across_a_node_restart(tmp_path: Path) -> None:
    node = await asyncio.to_thread(start_node, tmp_path / "node")
    subscription = BlockSubscription(node.home.rpc_url())
    queue: asyncio.Queue[int] = asyncio.Queue()
    reader = asyncio.create_task(collect(subscription.heights(), queue))
    try:
        before = await next_heights(queue, 4)
        await asyncio.to_thread(node.stop)
        await asyncio.sleep(1.0)
        lost_while_down = subscription.connected
        while not queue.empty():  # notifications sent before the node went down
            queue.get_nowait()
        await asyncio.to_thread(node.start)
        after = await next_heights(queue, 4)
    finally:
        reader.cancel()
        await asyncio.to_thread(node.stop)

    assert before == sorted(before) and len(set(before[1:])) == 3
    assert not lost_while_down
    # On reconnection the latest height comes first, then new blocks after it.
    assert after[0] >= before[-1] and after == sorted(after) and after[-1] > after[0]
    assert subscription.connections == 2 and subscription.connected
