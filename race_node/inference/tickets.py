"""Tickets on both sides of a request: the relay signs one, the executor checks it before it
runs anything (DESIGN.md 7.2-7.3; docs/inference.md, "The executor's checks").

The executor refuses a ticket unless it names this executor, its relay signed it for this
chain, the relay is registered, the forwarded request is the one the ticket hashes, its
height is recent, this executor is the draw's result for its request id, beacon round and
attempt (on any of the last few distinct views of the providers its node has shown, and
on the latest state when none matches, so a relay a few blocks behind or ahead of the
executor is not refused), and
the key it charges is active, allows the model and has budget left. A ticket that passes
these can be settled, so the executor never works for a request it cannot be paid for.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from race_node.inference.view import ChainView, ModelRoute
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.gen.race.v1 import sidecar_pb2
from race_protocol.inference.draw import draw_executor, draw_seed
from race_protocol.inference.ticket import (
    TicketError,
    decode_ticket,
    encode_ticket,
    prompt_hash,
    ticket_signing_bytes,
    verify_ticket,
)

# How many blocks old a ticket may be when it reaches its executor.
MAX_TICKET_AGE_BLOCKS = 20
# How far ahead of the executor's node the relay's node may be.
MAX_TICKET_LEAD_BLOCKS = 3


class TicketRefused(Exception):
    """The executor will not run this request; the message says why."""


def sign_ticket(relay_key: Ed25519PrivateKey, chain_id: str,
                ticket: pb.Ticket) -> tuple[bytes, bytes]:
    """The ticket's bytes and the relay's signature over them."""
    raw = encode_ticket(ticket)
    return raw, relay_key.sign(ticket_signing_bytes(chain_id, raw))


def drawn(output: bytes, ticket: pb.Ticket, candidates: tuple[tuple[str, int], ...]
          ) -> str | None:
    return draw_executor(draw_seed(output, bytes(ticket.request_id), ticket.attempt),
                         candidates)


def _drawn_on_any(routes: list[ModelRoute], ticket: pb.Ticket, executor: str) -> bool:
    return any(r.beacon_round == ticket.beacon_round
               and drawn(r.beacon_output, ticket, r.candidates) == executor for r in routes)


async def check_ticket(view: ChainView, executor: str, ticket_bytes: bytes,
                       signature: bytes, request: sidecar_pb2.GenerateRequest,
                       max_age_blocks: int = MAX_TICKET_AGE_BLOCKS) -> pb.Ticket:
    """The decoded ticket when this executor should run ``request``; TicketRefused if not."""
    try:
        ticket = decode_ticket(ticket_bytes)
    except TicketError as bad:
        raise TicketRefused(f"malformed ticket: {bad}") from None
    if ticket.executor != executor:
        raise TicketRefused(f"the ticket names executor {ticket.executor}, not {executor}")
    chain_id = await view.chain_id_of_node()
    if not verify_ticket(chain_id, ticket_bytes, signature, ticket):
        raise TicketRefused("the ticket's signature does not verify")
    if not await view.relay_registered(bytes(ticket.relay)):
        raise TicketRefused(f"relay {bytes(ticket.relay).hex()} is not registered")
    if request.model != ticket.model or prompt_hash(request) != bytes(ticket.prompt_hash):
        raise TicketRefused("the request is not the one the ticket was signed for")
    if not view.height - max_age_blocks <= ticket.height <= view.height + MAX_TICKET_LEAD_BLOCKS:
        raise TicketRefused(f"the ticket's height {ticket.height} is not recent (this node "
                            f"is at {view.height})")
    route = await view.route(ticket.model)
    if route is None:
        raise TicketRefused(f"{ticket.model!r} is not an active model")
    if not _drawn_on_any(view.recent_routes(ticket.model) or [route], ticket, executor):
        # The relay's node may be ahead of this one: look again at the latest state.
        latest = await view.refresh_route(ticket.model)
        if latest is None or not _drawn_on_any(view.recent_routes(ticket.model) or [latest],
                                               ticket, executor):
            raise TicketRefused("this executor is not the draw's result for the ticket")
    state = await view.key(bytes(ticket.key_hash))
    key = state.key
    if key is None:
        raise TicketRefused("the ticket's API key does not exist")
    if key.status != pb.API_KEY_STATUS_ACTIVE or (key.models and ticket.model not in key.models):
        raise TicketRefused("the ticket's API key is not active for this model")
    if int(key.remaining_nicoin) <= 0:
        raise TicketRefused("the ticket's API key has no budget left")
    return ticket
