"""Tickets: what a relay signs for one request, and the other bytes the parties hash or sign.

A ticket (``race.v1.Ticket``) names the request id, the API key's hash, the model, the
most the request may cost, the drawn executor, the relay's key, the chain height and
beacon round the relay read, the hash of the forwarded request and the draw attempt. The
relay signs :func:`ticket_signing_bytes` with its registered ed25519 key; the executor
checks it before running the request, and the chain checks it again at settlement, over
the very bytes the relay signed (they travel unchanged, so no party re-encodes a ticket).

Every hash and signed string starts with its own domain tag, so bytes signed or hashed
for one purpose can never be replayed as another; the chain id is in every signed string,
so a ticket or a registration signed for one chain is refused by another.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from race_protocol.gen.race.v1 import inference_pb2, sidecar_pb2

REQUEST_ID_BYTES = 16
KEY_HASH_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
HASH_BYTES = 32
API_KEY_PREFIX = "race-"
TICKET_DOMAIN = b"race/v1/inference/ticket\x00"
RELAY_REGISTRATION_DOMAIN = b"race/v1/inference/relay-registration\x00"
PROMPT_DOMAIN = b"race/v1/inference/prompt\x00"
OUTPUT_DOMAIN = b"race/v1/inference/output\x00"


class TicketError(ValueError):
    """Ticket bytes that do not decode, or decode to a malformed ticket."""


def new_api_key() -> str:
    """A fresh API key secret: ``race-`` and 43 URL-safe characters (256 random bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_hash(secret: str) -> bytes:
    """SHA-256 of the secret: the only form of an API key the chain ever sees."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def new_request_id() -> bytes:
    """A fresh random request id."""
    return secrets.token_bytes(REQUEST_ID_BYTES)


def encode_ticket(ticket: inference_pb2.Ticket) -> bytes:
    """The ticket's canonical bytes (deterministic protobuf)."""
    return ticket.SerializeToString(deterministic=True)


def decode_ticket(ticket_bytes: bytes) -> inference_pb2.Ticket:
    """The ticket in ``ticket_bytes``; TicketError when they are not its canonical encoding
    or a field has the wrong size."""
    ticket = inference_pb2.Ticket()
    try:
        ticket.ParseFromString(ticket_bytes)
    except Exception as bad:  # protobuf's DecodeError, or a RuntimeWarning-free failure
        raise TicketError(f"the ticket does not decode: {bad}") from None
    if encode_ticket(ticket) != ticket_bytes:
        raise TicketError("the ticket bytes are not canonical (unknown or repeated fields)")
    check_ticket_fields(ticket)
    return ticket


def check_ticket_fields(ticket: inference_pb2.Ticket) -> None:
    """Sizes and ranges every valid ticket has; TicketError names the first wrong one."""
    if len(ticket.request_id) != REQUEST_ID_BYTES:
        raise TicketError(f"request_id must be {REQUEST_ID_BYTES} bytes")
    if len(ticket.key_hash) != KEY_HASH_BYTES:
        raise TicketError(f"key_hash must be {KEY_HASH_BYTES} bytes")
    if len(ticket.relay) != PUBLIC_KEY_BYTES:
        raise TicketError(f"relay must be a {PUBLIC_KEY_BYTES}-byte ed25519 key")
    if len(ticket.prompt_hash) != HASH_BYTES:
        raise TicketError(f"prompt_hash must be {HASH_BYTES} bytes")
    if not ticket.model:
        raise TicketError("the ticket names no model")
    if not ticket.executor:
        raise TicketError("the ticket names no executor")
    if ticket.height < 1:
        raise TicketError("the ticket's height must be at least 1")
    if ticket.max_cost_nicoin < 1 or ticket.max_cost_nicoin >= 2**63:
        raise TicketError("max_cost_nicoin must be between 1 and 2^63-1")


def ticket_signing_bytes(chain_id: str, ticket_bytes: bytes) -> bytes:
    """What the relay signs: the domain, the chain id and the ticket's bytes."""
    chain = chain_id.encode("utf-8")
    return TICKET_DOMAIN + len(chain).to_bytes(2, "big") + chain + ticket_bytes


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s ed25519 signature of ``message``.

    libsodium decides (strict: it refuses non-canonical encodings and small-order keys),
    the same implementation the chain uses for tx signatures, so every node agrees.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except (CryptoError, ValueError, TypeError):
        return False
    return True


def verify_ticket(chain_id: str, ticket_bytes: bytes, signature: bytes,
                  ticket: inference_pb2.Ticket) -> bool:
    """Whether the ticket's relay key signed ``ticket_bytes`` for ``chain_id``."""
    return verify_signature(bytes(ticket.relay), signature,
                            ticket_signing_bytes(chain_id, ticket_bytes))


def relay_registration_bytes(chain_id: str, owner: str, public_key: bytes) -> bytes:
    """What a relay key signs to prove it consents to be registered for ``owner``: without
    it anyone could register someone else's relay key and collect its share."""
    chain, account = chain_id.encode("utf-8"), owner.encode("utf-8")
    return (RELAY_REGISTRATION_DOMAIN + len(chain).to_bytes(2, "big") + chain
            + len(account).to_bytes(2, "big") + account + public_key)


def prompt_hash(request: sidecar_pb2.GenerateRequest) -> bytes:
    """SHA-256 of the forwarded request (model, input and sampling; not its request id):
    binds a ticket to the exact work the executor was asked to do."""
    bare = sidecar_pb2.GenerateRequest()
    bare.CopyFrom(request)
    bare.request_id = ""
    return hashlib.sha256(PROMPT_DOMAIN + bare.SerializeToString(deterministic=True)).digest()


def output_commitment(choices: Sequence[sidecar_pb2.Completion]) -> bytes:
    """SHA-256 of what the executor produced: per choice, in index order, its token ids,
    their logprob claims and its finish reason (the text follows from the tokens). A
    verifier replaying the transcript checks it against this."""
    committed = sidecar_pb2.GenerateResponse(choices=[
        sidecar_pb2.Completion(index=c.index, token_ids=c.token_ids, logprobs=c.logprobs,
                               finish_reason=c.finish_reason, stop_sequence=c.stop_sequence)
        for c in sorted(choices, key=lambda c: c.index)])
    return hashlib.sha256(OUTPUT_DOMAIN + committed.SerializeToString(deterministic=True)
                          ).digest()
