"""SIGTERM drains the sidecar: running answers finish, new ones are refused, it exits cleanly.

This stops the session's shared sidecar, so the conftest runs it after every other test.
"""

from __future__ import annotations

import asyncio
import signal

import grpc
import pytest

from race_protocol.gen.race.v1 import sidecar_pb2 as pb
from tests.inference.conftest import SMOLLM2, Sidecar, greedy, user


@pytest.mark.stops_sidecar
async def test_sigterm_lets_running_requests_finish_and_refuses_new_ones(
        stub, sidecar: Sidecar) -> None:
    running = stub.GenerateStream(pb.GenerateRequest(
        model=SMOLLM2, chat=user("Count from one to twenty."), sampling=greedy(40)))
    await running.read()

    sidecar.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Generate(pb.GenerateRequest(model=SMOLLM2, chat=user("Hi"),
                                               sampling=greedy(2)))
    rest = []
    while (chunk := await running.read()) is not grpc.aio.EOF:
        rest.append(chunk)
    exit_code = await asyncio.to_thread(sidecar.process.wait, 90)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert any(chunk.finish_reason for chunk in rest) and rest[-1].HasField("usage")
    assert exit_code == 0
