"""The heartbeat duty: every N blocks, a 1 nicoin self-transfer that says "this agent is alive".

At each height divisible by N the operator sends 1 nicoin to itself with memo
``heartbeat <height>``, keyed ``heartbeat/<height>`` in the broadcast journal, so however
often the agent crashes and redoes that height, the chain sees one heartbeat for it.
A placeholder duty: the next duties (the Race, proofs, verification) replace it.
"""

from __future__ import annotations

import logging

from race_node.agent.duties import BlockContext, BlockHandler
from race_protocol.gen.race.v1 import bank_pb2

HEARTBEAT_AMOUNT_NICOIN = 1
log = logging.getLogger(__name__)


def heartbeat_key(height: int) -> str:
    return f"heartbeat/{height}"


def heartbeat_memo(height: int) -> str:
    return f"heartbeat {height}"


def heartbeat_duty(every: int) -> BlockHandler:
    """The handler for ``agent.on_block``: a heartbeat at heights divisible by ``every``."""
    if every < 1:
        raise ValueError("a heartbeat needs a period of at least one block")

    async def heartbeat(block: BlockContext) -> None:
        if block.height % every:
            return
        operator = block.agent.operator_address
        message = bank_pb2.MsgSend(from_address=operator, to_address=operator,
                                   amount_nicoin=HEARTBEAT_AMOUNT_NICOIN)
        submission = await block.agent.submit_once(heartbeat_key(block.height), [message],
                                                   memo=heartbeat_memo(block.height))
        if submission.accepted:
            log.info("heartbeat for height %d: tx %s", block.height, submission.hash)
        else:
            log.warning("heartbeat for height %d refused (code %d): %s", block.height,
                        submission.check.code, submission.check.log)

    return heartbeat
