"""Tx broadcast for both gateways: CheckTx's verdict, and optionally the committed result.

Signed bytes go through the client library's one broadcast path
(:func:`race_node.client.broadcast.broadcast_signed` and :func:`wait_for_commit`), so a
re-broadcast of bytes the node already holds is an accepted tx here too.
"""

from __future__ import annotations

from race_node.client.broadcast import broadcast_signed, wait_for_commit
from race_node.client.rpc import CometRPC, NodeUnreachable, RPCError, TxNotCommitted
from race_protocol.gen.race.v1 import query_pb2

COMMIT_TIMEOUT_S = 30.0


class BroadcastFailed(Exception):
    """The node could not be reached, or the tx was not committed in time."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def broadcast_tx(rpc: CometRPC, tx_bytes: bytes,
                 wait: bool) -> query_pb2.BroadcastTxResponse:
    """Submit a signed tx. A rejected tx is an answer (its code and log), not an error."""
    try:
        checked = broadcast_signed(rpc, tx_bytes)
        response = query_pb2.BroadcastTxResponse(
            txhash=checked.hash, code=checked.code, log=checked.log,
            codespace=checked.codespace)
        if checked.ok and wait:
            committed = wait_for_commit(rpc, checked.hash, timeout=COMMIT_TIMEOUT_S)
            response.code = committed.code
            response.log = committed.log
            response.codespace = committed.codespace
            response.height = committed.height
    except NodeUnreachable as exc:
        raise BroadcastFailed(str(exc), unreachable=True) from exc
    except (TxNotCommitted, RPCError) as exc:
        raise BroadcastFailed(str(exc), unreachable=False) from exc
    return response
