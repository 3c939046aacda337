"""Batched settlement (DESIGN.md section 7.4; docs/inference.md, "Settlement").

An executor settles many tickets in one MsgSettleTickets. For each ticket the chain
checks, each failure with its own code: it decodes (MALFORMED_TICKET), names the signer
as executor (WRONG_EXECUTOR), its relay key is registered (UNREGISTERED_RELAY), the relay
signed these bytes for this chain (FORGED_TICKET), its height is a committed one
(TICKET_NOT_YET_VALID) within ``ticket_validity_blocks`` (TICKET_EXPIRED), and it was
never settled (TICKET_ALREADY_SETTLED). One bad ticket refuses the whole message, so a
batch is settled entirely or not at all.

Then it charges ``(prompt + completion tokens) x units_of_compute_per_token x price``,
never more than the ticket's max cost or the key's remaining budget, and nothing for a
request that produced no token. A ticket the key does not accept (signed after the key
stopped, for a model outside its list, or for a key that no longer exists) settles at 0:
the executor's remedy is to check the key before it runs a request. The charge is split
by the fee-split params and summed over the batch: the relay's share is paid from escrow
here, the others go to the rewards module (``rewards.distribution.distribute_fees``),
which holds the executor's and the verifiers' until the cycle's release, pays the funds and
the model owner, burns the burn share, and mints the issuance the charges trigger.

Units and price are read when the settlement executes; the ticket's max cost, computed
by the relay at the price it saw, caps the charge. The chain's work per ticket is one
ed25519 check (done once, in CheckTx, and remembered for FinalizeBlock), a protobuf
decode, a few in-memory reads and one write (the settled record); bank and key writes
are per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from abci_app.core.context import Context
from abci_app.core.hooks import SettledTask
from abci_app.modules.bank import keeper as bank
from abci_app.modules.inference import keeper
from abci_app.modules.inference.errors import (
    FORGED_TICKET,
    MALFORMED_TICKET,
    TICKET_ALREADY_SETTLED,
    TICKET_EXPIRED,
    TICKET_NOT_YET_VALID,
    TOO_MANY_TICKETS,
    UNREGISTERED_RELAY,
    WRONG_EXECUTOR,
)
from abci_app.modules.inference.keeper import ApiKeyEntry, RelayEntry
from abci_app.modules.inference.params import fee_shares
from abci_app.modules.models import keeper as models
from abci_app.modules.pricing import keeper as pricing
from abci_app.modules.rewards.distribution import distribute_fees
from race_protocol.gen.race.v1 import inference_pb2
from race_protocol.inference import fees
from race_protocol.inference.ticket import TicketError, decode_ticket, verify_ticket

# Tickets whose signature verified, by (chain id, ticket bytes, signature): a pure
# function of the key, so a ticket checked in CheckTx is not checked again in
# FinalizeBlock. Only successes are kept; the dict is cleared when it reaches the limit.
_VERIFIED: set[tuple[str, bytes, bytes]] = set()
VERIFIED_LIMIT = 200_000


@dataclass(frozen=True)
class Settlement:
    """What one MsgSettleTickets did."""

    tickets: int
    charged: int
    payouts: tuple[tuple[str, int], ...]


def decode(index: int, item: inference_pb2.SettledTicket) -> inference_pb2.Ticket:
    """Ticket ``index`` of a settlement, or MALFORMED_TICKET naming it."""
    try:
        return decode_ticket(item.ticket)
    except TicketError as bad:
        raise MALFORMED_TICKET(f"ticket {index}: {bad}") from None


def signature_verifies(chain_id: str, item: inference_pb2.SettledTicket,
                       ticket: inference_pb2.Ticket) -> bool:
    key = (chain_id, bytes(item.ticket), bytes(item.signature))
    if key in _VERIFIED:
        return True
    if not verify_ticket(chain_id, item.ticket, item.signature, ticket):
        return False
    if len(_VERIFIED) >= VERIFIED_LIMIT:
        _VERIFIED.clear()
    _VERIFIED.add(key)
    return True


def expired_through(ctx: Context) -> int:
    """Tickets signed at or below this height can no longer settle: past their validity
    window, or at a height whose settled records pruning has begun to remove."""
    validity = ctx.params("inference").ticket_validity_blocks
    return max(ctx.block.height - validity - 1, keeper.state_value(ctx, keeper.PRUNE_FLOOR))


def settle(ctx: Context, executor: str,
           items: Sequence[inference_pb2.SettledTicket]) -> Settlement:
    """Charge and pay every ticket of one settlement, or refuse it whole."""
    params = ctx.params("inference")
    if len(items) > params.max_tickets_per_settlement:
        raise TOO_MANY_TICKETS(f"{len(items)} tickets; max_tickets_per_settlement is "
                               f"{params.max_tickets_per_settlement}: split the batch")
    chain_id = ctx.block.chain_id
    height = ctx.block.height
    floor = expired_through(ctx)
    price = pricing.current_price(ctx)
    shares = fee_shares(params)
    keys: dict[bytes, ApiKeyEntry | None] = {}
    touched: set[bytes] = set()
    relays: dict[bytes, RelayEntry | None] = {}
    units: dict[str, int] = {}
    payouts: dict[str, int] = {}
    # Per model, every share but the relay's, for the rewards module (docs/rewards.md).
    routed: dict[str, dict[str, int]] = {}
    charged_by_model: dict[str, int] = {}
    tasks = 0
    served_units = 0
    settled: list[SettledTask] = []
    total = 0
    for index, item in enumerate(items):
        ticket = decode(index, item)
        request = f"ticket {index} (request {ticket.request_id.hex()})"
        if ticket.executor != executor:
            raise WRONG_EXECUTOR(f"{request} names executor {ticket.executor}, not {executor}")
        relay_key = bytes(ticket.relay)
        if relay_key not in relays:
            relays[relay_key] = keeper.get_relay(ctx, relay_key)
        relay = relays[relay_key]
        if relay is None:
            raise UNREGISTERED_RELAY(f"{request}: relay key {relay_key.hex()} is not "
                                     "registered (`race relay register`)")
        if not signature_verifies(chain_id, item, ticket):
            raise FORGED_TICKET(f"{request}: not signed by relay {relay_key.hex()} for "
                                f"chain {chain_id!r}")
        if ticket.height >= height:
            raise TICKET_NOT_YET_VALID(f"{request} has height {ticket.height}; this block "
                                       f"is {height}")
        if ticket.height <= floor:
            raise TICKET_EXPIRED(f"{request} was signed at height {ticket.height}; tickets "
                                 f"at or below {floor} can no longer be settled")
        request_id = bytes(ticket.request_id)
        if keeper.settled_charge(ctx, ticket.height, request_id) is not None:
            raise TICKET_ALREADY_SETTLED(f"{request} at height {ticket.height} is settled")
        key_hash = bytes(ticket.key_hash)
        if key_hash not in keys:
            keys[key_hash] = keeper.get_key(ctx, key_hash)
        key = keys[key_hash]
        charged = 0
        if (key is not None and item.completion_tokens > 0
                and key.accepts_ticket_height(ticket.height) and key.allows_model(ticket.model)):
            if ticket.model not in units:
                entry = models.get_model(ctx, ticket.model)
                units[ticket.model] = 0 if entry is None else entry.units_of_compute_per_token
            charged = fees.charge(item.prompt_tokens, item.completion_tokens,
                                  units[ticket.model], price, ticket.max_cost_nicoin,
                                  key.remaining)
            keys[key_hash] = replace(key, spent=key.spent + charged,
                                     settled_tickets=key.settled_tickets + 1)
            touched.add(key_hash)
        keeper.record_settled(ctx, ticket.height, request_id, charged)
        settled.append(SettledTask(
            ticket_height=ticket.height, request_id=request_id, key_hash=key_hash,
            key_owner=key.owner if key is not None else "", model=ticket.model,
            relay=relay_key, prompt_hash=bytes(ticket.prompt_hash),
            output_commitment=bytes(item.output_commitment),
            prompt_tokens=item.prompt_tokens, completion_tokens=item.completion_tokens,
            charged=charged))
        if charged:
            total += charged
            tasks += 1
            served_units += (item.prompt_tokens + item.completion_tokens) * units[ticket.model]
            charged_by_model[ticket.model] = charged_by_model.get(ticket.model, 0) + charged
            by_share = routed.setdefault(ticket.model, {})
            for share, part in fees.split(charged, shares):
                if share == "relay":
                    payouts[relay.owner] = payouts.get(relay.owner, 0) + part
                else:
                    by_share[share] = by_share.get(share, 0) + part
    for key_hash in sorted(touched):
        changed = keys[key_hash]
        assert changed is not None
        keeper.put_key(ctx, changed)
    paid = tuple(sorted((address, amount) for address, amount in payouts.items() if amount))
    for address, amount in paid:
        bank.send(ctx, keeper.escrow_address(), address, amount)
        ctx.emit("settlement_payout", recipient=address, amount_nicoin=amount)
    # Whitepaper section 6: the executor's and verifiers' shares are held until the cycle's
    # release; the charges mint the batch's issuance (Appendix F).
    distribute_fees(ctx, source=keeper.escrow_address(), executor=executor,
                    charged_by_model=charged_by_model,
                    shares_by_model={model: sorted(parts.items())
                                     for model, parts in routed.items()},
                    tasks=tasks, units=served_units)
    ctx.emit("settle_tickets", executor=executor, tickets=len(items), charged_nicoin=total)
    # Whitepaper section 6: every settled ticket is a task verifiers may be drawn to check.
    ctx.registry.hooks.run_tickets_settled(ctx, executor, settled)
    return Settlement(len(items), total, paid)


def prune_settled(ctx: Context, work: int) -> None:
    """Remove the settled records of tickets whose validity window has passed, at most
    ``work`` steps (a record, or a height looked at) per block.

    Each block prunes the one height that just expired (``height - validity - 1``). When
    governance shortens the window, the heights it skips over are pruned too; when the
    limit is reached the rest waits, from the backlog cursor. The floor records the
    highest height pruned: should the window later grow, tickets at or below it stay
    expired, since their records may be gone.
    """
    validity = ctx.params("inference").ticket_validity_blocks
    previous = keeper.state_value(ctx, keeper.PRUNE_VALIDITY) or validity
    target = ctx.block.height - validity - 1
    backlog = keeper.state_value(ctx, keeper.PRUNE_BACKLOG)
    current = backlog or ctx.block.height - previous - 1
    floor = keeper.state_value(ctx, keeper.PRUNE_FLOOR)
    current = max(current, 1)
    while current <= target and work > 0:
        work -= 1
        request_ids = list(keeper.settled_at(ctx, current))
        if request_ids:
            floor = max(floor, current)
        for request_id in request_ids[:work]:
            keeper.drop_settled(ctx, current, request_id)
        if len(request_ids) > work:
            break  # the rest of this height next block
        work -= len(request_ids)
        current += 1
    keeper.set_state_value(ctx, keeper.PRUNE_BACKLOG, current if current <= target else 0)
    keeper.set_state_value(ctx, keeper.PRUNE_FLOOR, floor)
    keeper.set_state_value(ctx, keeper.PRUNE_VALIDITY, validity)
