"""The relay's connections to executors: one gRPC channel per executor endpoint, reused by
every request routed there (the TCP and HTTP/2 set-up is paid once, not per request)."""

from __future__ import annotations

import asyncio

import grpc

from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import inference_pb2_grpc as pb_grpc

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ExecutorChannels:
    """Channels to executor services, by ``host:port``."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    def stub(self, endpoint: str) -> pb_grpc.ExecutorStub:
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = self._channels[endpoint] = grpc.aio.insecure_channel(endpoint, options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2000),
            ])
        return pb_grpc.ExecutorStub(channel)

    async def connected(self, endpoint: str, timeout: float) -> bool:
        """Whether a connection to ``endpoint`` is up or comes up within ``timeout``
        seconds. A refused connection (the executor is down) answers False at once; a
        host that does not answer is given up on after ``timeout``, not after gRPC's own
        connect timeout (20 s)."""
        self.stub(endpoint)
        channel = self._channels[endpoint]
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            state = channel.get_state(try_to_connect=True)
            if state is grpc.ChannelConnectivity.READY:
                return True
            if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                         grpc.ChannelConnectivity.SHUTDOWN):
                return False
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), left)
            except TimeoutError:
                return False

    def execute(self, endpoint: str, request: pb.ExecuteRequest,
                timeout: float | None = None) -> grpc.aio.UnaryStreamCall:
        """Start ``Executor.Execute`` at ``endpoint``; iterate the call for its chunks."""
        return self.stub(endpoint).Execute(request, timeout=timeout, wait_for_ready=False)

    async def forget(self, endpoint: str) -> None:
        """Close the channel to an executor that failed (the next request dials afresh)."""
        channel = self._channels.pop(endpoint, None)
        if channel is not None:
            await channel.close()

    async def close(self) -> None:
        for endpoint in list(self._channels):
            await self.forget(endpoint)
