"""Stateless tx checks, run in CheckTx and again in FinalizeBlock (docs/modules.md §9).

Everything here is a pure function of the tx bytes, the chain id, the auth params and
the installed message routes, so every validator reaches the same verdict. The ed25519
check is the costly step; its result is a pure function of the tx bytes (the hash covers
key, body and signature), so it is cached by tx hash and a tx verified in CheckTx is not
verified again in FinalizeBlock.

What is cached, and for whom. The signature verdict is one boolean per tx hash. The
decoded tx (its body and messages, two to four times the tx's size in memory) is kept
only for txs the pipeline *admitted* (:func:`remember_checked`: CheckTx let them into the
mempool, or they are in an accepted proposal), within :data:`CHECKED_CACHE_BYTES` of tx
bytes. A tx the ante handler refuses (an unfunded signer) costs its sender nothing, so it
must cost the node nothing either: it leaves only its signature verdict behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message

from abci_app.core.errors import ChainError
from abci_app.core.module import MsgRoute
from abci_app.core.registry import ModuleRegistry
from abci_app.tx import errors
from abci_app.tx.codec import UINT64_MAX, DecodedTx, decode_tx, tx_hash
from abci_app.tx.keys import verify

SIGNATURE_CACHE_LIMIT = 100_000
CHECKED_CACHE_LIMIT = 20_000
# Raw bytes of the admitted txs kept decoded; the decoded form takes 2-4x this in memory.
CHECKED_CACHE_BYTES = 32 * 1024 * 1024
_signature_ok: dict[bytes, bool] = {}
CacheKey = tuple[bytes, str, int, int, int, int]
# Admitted txs that passed every stateless check, by (tx hash, chain id, registry,
# limits), oldest first. The verdict is a pure function of that key (the registry's
# routes never change), so a tx checked in CheckTx is not decoded and checked again in
# FinalizeBlock. Handlers never mutate messages, so sharing the decoded objects is safe.
_checked: dict[CacheKey, CheckedTx] = {}
_checked_bytes = 0


class EnvelopeLimits(Protocol):
    """The auth params the stateless checks read."""

    max_tx_bytes: int
    max_messages: int
    max_memo_bytes: int


@dataclass(frozen=True)
class CheckedTx:
    """A tx that passed every stateless check, with its messages unpacked and routed."""

    decoded: DecodedTx
    messages: tuple[tuple[MsgRoute, Message], ...]

    @property
    def size(self) -> int:
        """The tx's size in bytes (what the verdict cache counts)."""
        return len(self.decoded.raw)

    @property
    def type_urls(self) -> list[str]:
        return [route.type_url for route, _ in self.messages]


def signature_verifies(decoded: DecodedTx) -> bool:
    """The ed25519 check of the body bytes, memoised by tx hash."""
    cached = _signature_ok.get(decoded.hash)
    if cached is not None:
        return cached
    ok = verify(decoded.public_key, decoded.signature, decoded.body_bytes)
    if len(_signature_ok) >= SIGNATURE_CACHE_LIMIT:
        _signature_ok.clear()
    _signature_ok[decoded.hash] = ok
    return ok


def unpack_message(registry: ModuleRegistry, packed: Any, index: int) -> tuple[MsgRoute, Message]:
    """Find the route for one ``Any`` and decode it canonically."""
    found = registry.route(packed.type_url)
    if found is None:
        raise errors.UNKNOWN_MESSAGE_TYPE(
            f"message {index} has type {packed.type_url!r}; this chain accepts "
            f"{registry.type_urls()}"
        )
    route = found[1]
    try:
        message = route.message_type.FromString(packed.value)
    except Exception as bad:
        raise errors.MESSAGE_UNDECODABLE(f"message {index} ({packed.type_url}): {bad}") from None
    message.DiscardUnknownFields()
    if message.SerializeToString(deterministic=True) != packed.value:
        raise errors.TX_NON_CANONICAL(
            f"message {index} ({packed.type_url}) is not deterministically encoded"
        )
    return route, message


def _cache_key(hash_: bytes, chain_id: str, limits: EnvelopeLimits,
               registry: ModuleRegistry) -> CacheKey:
    return (hash_, chain_id, id(registry), limits.max_tx_bytes, limits.max_messages,
            limits.max_memo_bytes)


def check_stateless(
    tx_bytes: bytes, chain_id: str, limits: EnvelopeLimits, registry: ModuleRegistry
) -> CheckedTx:
    """Every check that needs no state; raises a ChainError naming the first failure.

    An admitted tx's earlier verdict is reused; nothing is cached here (see
    :func:`remember_checked`).
    """
    cached = _checked.get(_cache_key(tx_hash(tx_bytes), chain_id, limits, registry))
    if cached is not None:
        return cached
    return _check_uncached(tx_bytes, chain_id, limits, registry)


def remember_checked(checked: CheckedTx, chain_id: str, limits: EnvelopeLimits,
                     registry: ModuleRegistry) -> None:
    """Keep an admitted tx's verdict, evicting the oldest past the cache's bounds."""
    global _checked_bytes
    key = _cache_key(checked.decoded.hash, chain_id, limits, registry)
    if key in _checked:
        return
    size = checked.size
    if size > CHECKED_CACHE_BYTES:
        return
    while _checked and (len(_checked) >= CHECKED_CACHE_LIMIT
                        or _checked_bytes + size > CHECKED_CACHE_BYTES):
        oldest = next(iter(_checked))
        _checked_bytes -= _checked.pop(oldest).size
    _checked[key] = checked
    _checked_bytes += size


def cached_tx_bytes() -> int:
    """Raw bytes of the txs whose decoded verdicts are cached (at most CHECKED_CACHE_BYTES)."""
    return _checked_bytes


def _check_uncached(
    tx_bytes: bytes, chain_id: str, limits: EnvelopeLimits, registry: ModuleRegistry
) -> CheckedTx:
    if len(tx_bytes) > limits.max_tx_bytes:
        raise errors.TX_TOO_LARGE(
            f"{len(tx_bytes)} bytes; the limit is auth.max_tx_bytes = {limits.max_tx_bytes}"
        )
    decoded = decode_tx(tx_bytes)
    if decoded.chain_id != chain_id:
        raise errors.WRONG_CHAIN_ID(
            f"tx is for chain {decoded.chain_id!r} but this chain is {chain_id!r}; "
            "sign it with the right --chain-id"
        )
    if decoded.fee_nicoin > UINT64_MAX >> 1:
        raise errors.FEE_OUT_OF_RANGE(f"fee {decoded.fee_nicoin} does not fit a signed 64-bit int")
    if decoded.sequence > UINT64_MAX >> 1:
        raise errors.SEQUENCE_OUT_OF_RANGE(f"sequence {decoded.sequence} is out of range")
    if len(decoded.memo.encode()) > limits.max_memo_bytes:
        raise errors.MEMO_TOO_LONG(
            f"{len(decoded.memo.encode())} bytes; the limit is auth.max_memo_bytes = "
            f"{limits.max_memo_bytes}"
        )
    if not decoded.messages:
        raise errors.NO_MESSAGES("add at least one message")
    if len(decoded.messages) > limits.max_messages:
        raise errors.TOO_MANY_MESSAGES(
            f"{len(decoded.messages)} messages; the limit is auth.max_messages = "
            f"{limits.max_messages}; split the tx"
        )
    messages = tuple(
        unpack_message(registry, packed, i) for i, packed in enumerate(decoded.messages)
    )
    for index, (route, message) in enumerate(messages):
        try:
            route.validate_basic(message)
        except ChainError as refusal:
            refusal.log = f"message {index} ({route.type_url}): {refusal.log}"
            raise
    if not signature_verifies(decoded):
        raise errors.BAD_SIGNATURE(
            f"the signature does not match signer {decoded.signer} over the body; "
            "sign the exact body bytes with the signer's key"
        )
    return CheckedTx(decoded, messages)
