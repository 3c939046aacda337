"""An in-process chain (tests/harness.py) with a model in the registry, a registered relay,
providers serving it, and helpers that sign tickets and settle them as an executor would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import abci_app.tx as txlib
from race_protocol.gen.race.v1 import inference_pb2 as pb
from race_protocol.inference.ticket import (
    api_key_hash,
    encode_ticket,
    new_request_id,
    relay_registration_bytes,
    ticket_signing_bytes,
)
from tests.harness import CHAIN_ID, ICOIN, Chain, Outcome, account, key_from_seed

MODEL = "smollm2-135m-instruct"
OTHER_MODEL = "tiny-random"
UNITS = 3
PRICE = 1000
DEVELOPER = 100
RELAY_OWNER = 101


def model_entry(model_id: str, units: int = UNITS) -> dict[str, Any]:
    return {"id": model_id, "hf_repo": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "revision": "main", "units_of_compute_per_token": units, "max_context": 2048,
            "validation_threshold_ppm": 990_000}


def relay_key(seed: int = 7) -> Ed25519PrivateKey:
    return key_from_seed(90_000 + seed)


def public(key: Ed25519PrivateKey) -> bytes:
    return txlib.public_key_bytes(key)


@dataclass
class InferenceNet:
    """The chain and the parties of a request."""

    chain: Chain
    relay: Ed25519PrivateKey
    secret: str = "race-test-secret"
    endpoints: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, powers: Sequence[int] = (10, 20, 30, 40), *,
              params: dict[str, Any] | None = None, register_relay: bool = True,
              serve: bool = True, genesis: dict[str, Any] | None = None) -> InferenceNet:
        relay = relay_key()
        sections: dict[str, Any] = {
            "models": {"models": [model_entry(MODEL), model_entry(OTHER_MODEL, 1)]},
            "pricing": {"params": {"genesis_price_per_unit_nicoin": PRICE}},
            "inference": {"params": dict(params or {})},
            **(genesis or {}),
        }
        if register_relay:
            sections["inference"]["relays"] = [{"public_key": public(relay).hex(),
                                                "owner": account(RELAY_OWNER)}]
        chain = Chain(powers, sections,
                      accounts=[*range(len(powers)), DEVELOPER, RELAY_OWNER])
        net = cls(chain, relay)
        if serve:
            for index in range(len(powers)):
                assert net.serve(index).ok
        return net

    # --- parties ---------------------------------------------------------------------

    @property
    def developer(self) -> str:
        return account(DEVELOPER)

    @property
    def relay_owner(self) -> str:
        return account(RELAY_OWNER)

    @property
    def key_hash(self) -> bytes:
        return api_key_hash(self.secret)

    def serve(self, index: int, model: str = MODEL) -> Outcome:
        endpoint = self.endpoints.setdefault(account(index), f"127.0.0.1:{40000 + index}")
        return self.chain.deliver(account(index), pb.MsgServeModel(
            provider=account(index), model=model, endpoint=endpoint))

    def create_key(self, budget: int = 10 * ICOIN, *, expires_in_blocks: int = 0,
                   models: Sequence[str] = (), secret: str | None = None) -> Outcome:
        key_hash = api_key_hash(secret) if secret else self.key_hash
        return self.chain.deliver(self.developer, pb.MsgCreateApiKey(
            owner=self.developer, key_hash=key_hash, budget_nicoin=budget,
            expires_in_blocks=expires_in_blocks, models=list(models)))

    def key(self, key_hash: bytes | None = None) -> dict[str, Any]:
        return self.chain.query(f"/inference/key/{(key_hash or self.key_hash).hex()}")["key"]

    def register_relay(self, relay: Ed25519PrivateKey, owner_index: int) -> Outcome:
        owner = account(owner_index)
        proof = relay.sign(relay_registration_bytes(CHAIN_ID, owner, public(relay)))
        return self.chain.deliver(owner, pb.MsgRegisterRelay(
            owner=owner, public_key=public(relay), proof=proof))

    # --- tickets ---------------------------------------------------------------------

    def ticket(self, executor: str, *, max_cost: int = 10**12, height: int | None = None,
               model: str = MODEL, key_hash: bytes | None = None,
               relay: Ed25519PrivateKey | None = None, request_id: bytes | None = None
               ) -> pb.Ticket:
        return pb.Ticket(
            request_id=request_id or new_request_id(),
            key_hash=key_hash or self.key_hash, model=model, max_cost_nicoin=max_cost,
            executor=executor, relay=public(relay or self.relay),
            height=self.chain.height - 1 if height is None else height,
            prompt_hash=b"\x01" * 32, beacon_round=0, attempt=0)

    def signed(self, ticket: pb.Ticket, prompt_tokens: int = 10, completion_tokens: int = 20,
               relay: Ed25519PrivateKey | None = None) -> pb.SettledTicket:
        raw = encode_ticket(ticket)
        signature = (relay or self.relay).sign(ticket_signing_bytes(CHAIN_ID, raw))
        return pb.SettledTicket(ticket=raw, signature=signature, prompt_tokens=prompt_tokens,
                                completion_tokens=completion_tokens,
                                output_commitment=b"\x02" * 32)

    def settle(self, executor_index: int, items: Sequence[pb.SettledTicket]) -> Outcome:
        executor = account(executor_index)
        return self.chain.deliver(executor, pb.MsgSettleTickets(executor=executor,
                                                                 tickets=list(items)))

    def invariants(self) -> list[str]:
        return list(self.chain.query("/app/invariants")["broken"])
