"""The inference module's messages. Each is checked statelessly first (addresses, sizes,
a settlement's tickets decode and name its executor), then against the state; every
refusal has its own code and a refused message changes nothing.
"""

from __future__ import annotations

import re

from abci_app.core.context import Context
from abci_app.modules.inference import lifecycle, settlement
from abci_app.modules.inference.errors import (
    EMPTY_SETTLEMENT,
    INVALID_ADDRESS,
    INVALID_BUDGET,
    INVALID_ENDPOINT,
    INVALID_KEY_HASH,
    INVALID_MODELS,
    INVALID_RELAY_KEY,
    MALFORMED_TICKET,
    SIGNER_MISMATCH,
    TOO_MANY_TICKETS,
    WRONG_EXECUTOR,
)
from abci_app.modules.inference.params import MAX_MODELS_PER_KEY, MAX_TICKETS_PER_SETTLEMENT
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import inference_pb2
from race_protocol.inference.ticket import (
    HASH_BYTES,
    KEY_HASH_BYTES,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
)

MAX_AMOUNT = 2**63 - 1
MAX_MODEL_ID_CHARS = 128
MAX_ENDPOINT_CHARS = 255
# host:port, host a DNS name, IPv4 address or bracketed IPv6 address.
ENDPOINT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$")


def _address(value: str, what: str) -> None:
    if not is_valid_address(value):
        raise INVALID_ADDRESS(f"{what} {value!r} is not a race1... address")


def _signer(ctx: Context, value: str, what: str) -> None:
    if ctx.signer != value:
        raise SIGNER_MISMATCH(f"{what} is {value} but the tx is signed by {ctx.signer}")


def _key_hash(value: bytes) -> None:
    if len(value) != KEY_HASH_BYTES:
        raise INVALID_KEY_HASH(f"key_hash must be the {KEY_HASH_BYTES}-byte SHA-256 of the "
                               f"secret, got {len(value)} bytes")


def _model_id(value: str) -> None:
    if not value or len(value) > MAX_MODEL_ID_CHARS:
        raise INVALID_MODELS(f"model id {value!r} must be 1-{MAX_MODEL_ID_CHARS} characters")


# --- API keys -----------------------------------------------------------------------------

def validate_basic_create_key(msg: inference_pb2.MsgCreateApiKey) -> None:
    _address(msg.owner, "owner")
    _key_hash(msg.key_hash)
    if not 1 <= msg.budget_nicoin <= MAX_AMOUNT:
        raise INVALID_BUDGET(f"budget_nicoin must be between 1 and {MAX_AMOUNT}")
    if msg.expires_in_blocks > MAX_AMOUNT:
        raise INVALID_BUDGET("expires_in_blocks is out of range")
    if len(msg.models) > MAX_MODELS_PER_KEY:
        raise INVALID_MODELS(f"at most {MAX_MODELS_PER_KEY} models")
    for model_id in msg.models:
        _model_id(model_id)


def handle_create_key(ctx: Context, msg: inference_pb2.MsgCreateApiKey) -> None:
    """Escrow the budget for a new key (only its hash is stored)."""
    _signer(ctx, msg.owner, "owner")
    lifecycle.create_key(ctx, msg.owner, bytes(msg.key_hash), msg.budget_nicoin,
                         msg.expires_in_blocks, list(msg.models))


def validate_basic_top_up(msg: inference_pb2.MsgTopUpApiKey) -> None:
    _address(msg.owner, "owner")
    _key_hash(msg.key_hash)
    if not 1 <= msg.amount_nicoin <= MAX_AMOUNT:
        raise INVALID_BUDGET(f"amount_nicoin must be between 1 and {MAX_AMOUNT}")


def handle_top_up(ctx: Context, msg: inference_pb2.MsgTopUpApiKey) -> None:
    _signer(ctx, msg.owner, "owner")
    lifecycle.top_up_key(ctx, msg.owner, bytes(msg.key_hash), msg.amount_nicoin)


def validate_basic_revoke(msg: inference_pb2.MsgRevokeApiKey) -> None:
    _address(msg.owner, "owner")
    _key_hash(msg.key_hash)


def handle_revoke(ctx: Context, msg: inference_pb2.MsgRevokeApiKey) -> None:
    _signer(ctx, msg.owner, "owner")
    lifecycle.revoke_key(ctx, msg.owner, bytes(msg.key_hash))


# --- providers ----------------------------------------------------------------------------

def validate_basic_serve(msg: inference_pb2.MsgServeModel) -> None:
    _address(msg.provider, "provider")
    _model_id(msg.model)
    match = ENDPOINT_RE.fullmatch(msg.endpoint)
    if (len(msg.endpoint) > MAX_ENDPOINT_CHARS or match is None
            or not 1 <= int(match.group(2)) <= 65535):
        raise INVALID_ENDPOINT(f"endpoint {msg.endpoint!r} must be HOST:PORT (at most "
                               f"{MAX_ENDPOINT_CHARS} characters)")


def handle_serve(ctx: Context, msg: inference_pb2.MsgServeModel) -> None:
    """Enter the signer into the model's executor draw."""
    _signer(ctx, msg.provider, "provider")
    lifecycle.serve_model(ctx, msg.provider, msg.model, msg.endpoint)


def validate_basic_stop(msg: inference_pb2.MsgStopServing) -> None:
    _address(msg.provider, "provider")
    _model_id(msg.model)


def handle_stop(ctx: Context, msg: inference_pb2.MsgStopServing) -> None:
    _signer(ctx, msg.provider, "provider")
    lifecycle.stop_serving(ctx, msg.provider, msg.model)


# --- relays -------------------------------------------------------------------------------

def validate_basic_register_relay(msg: inference_pb2.MsgRegisterRelay) -> None:
    _address(msg.owner, "owner")
    if len(msg.public_key) != PUBLIC_KEY_BYTES:
        raise INVALID_RELAY_KEY(f"public_key must be a {PUBLIC_KEY_BYTES}-byte ed25519 key")
    if len(msg.proof) != SIGNATURE_BYTES:
        raise INVALID_RELAY_KEY(f"proof must be a {SIGNATURE_BYTES}-byte ed25519 signature")


def handle_register_relay(ctx: Context, msg: inference_pb2.MsgRegisterRelay) -> None:
    _signer(ctx, msg.owner, "owner")
    lifecycle.register_relay(ctx, msg.owner, bytes(msg.public_key), bytes(msg.proof))


def validate_basic_deregister_relay(msg: inference_pb2.MsgDeregisterRelay) -> None:
    _address(msg.owner, "owner")
    if len(msg.public_key) != PUBLIC_KEY_BYTES:
        raise INVALID_RELAY_KEY(f"public_key must be a {PUBLIC_KEY_BYTES}-byte ed25519 key")


def handle_deregister_relay(ctx: Context, msg: inference_pb2.MsgDeregisterRelay) -> None:
    _signer(ctx, msg.owner, "owner")
    lifecycle.deregister_relay(ctx, msg.owner, bytes(msg.public_key))


# --- settlement ---------------------------------------------------------------------------

def validate_basic_settle(msg: inference_pb2.MsgSettleTickets) -> None:
    """At least one ticket and not more than any params allow; each decodes and names the
    message's executor."""
    _address(msg.executor, "executor")
    if not msg.tickets:
        raise EMPTY_SETTLEMENT("add the tickets to settle")
    if len(msg.tickets) > MAX_TICKETS_PER_SETTLEMENT:
        raise TOO_MANY_TICKETS(f"{len(msg.tickets)} tickets; at most "
                               f"{MAX_TICKETS_PER_SETTLEMENT} whatever the params")
    for index, item in enumerate(msg.tickets):
        ticket = settlement.decode(index, item)
        if ticket.executor != msg.executor:
            raise WRONG_EXECUTOR(f"ticket {index} names executor {ticket.executor}, not "
                                 f"{msg.executor}")
        if len(item.output_commitment) != HASH_BYTES:
            raise MALFORMED_TICKET(f"ticket {index}: output_commitment must be the "
                                   f"{HASH_BYTES}-byte hash of the output "
                                   "(race_protocol.inference.ticket.output_commitment)")


def handle_settle(ctx: Context, msg: inference_pb2.MsgSettleTickets) -> None:
    """Charge the tickets' keys and pay executor and relays (docs/inference.md)."""
    _signer(ctx, msg.executor, "executor")
    settlement.settle(ctx, msg.executor, msg.tickets)
