"""Duties are small handlers registered on the agent: "on this event, do this". An agent
run in this process, against a real node, hands each handler its heights in order and
each event with the tx that emitted it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from race_node.agent import AgentConfig, BlockContext, ChainEvent, NodeAgent
from race_node.client.broadcast import Broadcaster, Signer
from race_node.client.keyring import Keyring
from race_node.node.runner import NodeRunner
from race_protocol.gen.race.v1 import bank_pb2
from tests.client.live_node import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_handlers_see_every_height_in_order_and_each_transfer_with_its_tx(
        node: NodeRunner, tmp_path: Path) -> None:
    keyring = Keyring(node.home.keyring_dir)
    operator = Signer.from_keyring(keyring, "validator")
    recipient = keyring.add("recipient").address
    config = AgentConfig(home=node.home.root, rpc_url=node.home.rpc_url(),
                         status_address=f"127.0.0.1:{free_port()}", heartbeat_every=0)
    agent = NodeAgent(config, operator)
    heights: list[int] = []
    transfers: list[tuple[int, ChainEvent]] = []

    async def record_height(block: BlockContext) -> None:
        heights.append(block.height)

    async def record_transfer(block: BlockContext, event: ChainEvent) -> None:
        transfers.append((block.height, event))

    agent.on_block(record_height)
    agent.on_event("transfer", record_transfer)
    running = asyncio.create_task(agent.run())
    try:
        await until(lambda: len(heights) >= 2)
        with node.rpc() as rpc:
            sent = await asyncio.to_thread(Broadcaster(rpc, operator).submit_and_wait, [
                bank_pb2.MsgSend(from_address=operator.address, to_address=recipient,
                                 amount_nicoin=42)])
        assert sent.committed is not None
        await until(lambda: heights[-1] >= sent.committed.height + 2)
    finally:
        agent.request_stop()
        await asyncio.wait_for(running, timeout=30)

    assert heights == list(range(heights[0], heights[0] + len(heights)))
    ours = [(h, e) for h, e in transfers if e.tx_hash == sent.hash]
    assert len(ours) == 1
    height, event = ours[0]
    assert height == sent.committed.height and event.tx_code == 0
    assert (event.attributes["recipient"], event.attributes["amount"]) == (recipient, "42")
    assert [d.as_status()["runs"] > 0 for d in agent.duties] == [True, True]
