"""An in-process network for verification tests and the adversary bench: the real app
(tests/harness.py) with live beacon rounds and Race cycles (tests/race_cycle/net.py), a
model in the registry, a registered relay, every validator serving the model, a developer
with an API key, and short epochs.

Validators' seeds, draws and verdicts go through the same protocol code the agent uses
(race_protocol.verification, race_node.agent.verifier.EpochView), so what the chain
audits is exactly what an agent would have computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from abci_app.modules.verification import keeper
from race_node.agent.verifier import EpochView
from race_node.client.queries import ChainQueries
from race_protocol.gen.race.v1 import inference_pb2 as ipb
from race_protocol.gen.race.v1 import verification_pb2 as pb
from race_protocol.inference.ticket import (
    api_key_hash,
    encode_ticket,
    new_request_id,
    ticket_signing_bytes,
)
from race_protocol.verification.draw import seed_commitment, seed_message
from tests.beacon.net import InProcessNode
from tests.harness import CHAIN_ID, ICOIN, Event, Outcome, account, key_for
from tests.inference_chain.net import (
    DEVELOPER,
    MODEL,
    PRICE,
    RELAY_OWNER,
    model_entry,
    public,
    relay_key,
)
from tests.race_cycle.net import RaceNet, synthetic_leaves

EPOCH_LENGTH = 40
VERIFICATION_PARAMS = {"reveal_window_blocks": 3, "dispute_window_blocks": 6,
                       "report_fee_nicoin": 5_000, "report_window_blocks": 200,
                       "new_executor_check_rate_ppm": 600_000,
                       "min_check_rate_ppm": 50_000}
SECRET = "race-verification-test-secret"
PASS = pb.VERDICT_PASS
FAIL = pb.VERDICT_FAIL
UNAVAILABLE = pb.VERDICT_UNAVAILABLE


@dataclass(frozen=True)
class SettledTask:
    """A task as the verification_task event announced it."""

    task_id: bytes
    executor: str
    epoch: int
    rate_ppm: int
    settled_height: int
    request_id: bytes
    ticket_height: int


@dataclass
class VerificationNet:
    race: RaceNet
    tasks: list[SettledTask] = field(default_factory=list)

    @classmethod
    def start(cls, powers: Sequence[int] = (10, 10, 10, 10), *,
              params: Mapping[str, Any] | None = None, epoch_length: int = EPOCH_LENGTH,
              rewards: Mapping[str, Any] | None = None) -> VerificationNet:
        sections: dict[str, Any] = {
            "models": {"models": [model_entry(MODEL)]},
            "pricing": {"params": {"genesis_price_per_unit_nicoin": PRICE}},
            "inference": {"relays": [{"public_key": public(relay_key()).hex(),
                                      "owner": account(RELAY_OWNER)}]},
            "epochs": {"params": {"epoch_length_blocks": epoch_length}},
            "verification": {"params": {**VERIFICATION_PARAMS, **(params or {})}},
        }
        if rewards:
            sections["rewards"] = {"params": dict(rewards)}
        race = RaceNet.start(powers, app_state=sections,
                             accounts=[*range(len(powers)), DEVELOPER, RELAY_OWNER])
        net = cls(race)
        for index in range(len(powers)):
            net.block([(account(index), ipb.MsgServeModel(
                provider=account(index), model=MODEL, endpoint=f"127.0.0.1:{40000 + index}"))])
        outcome = net.block([(net.developer, ipb.MsgCreateApiKey(
            owner=net.developer, key_hash=api_key_hash(SECRET), budget_nicoin=100 * ICOIN))])
        assert outcome[0].ok, outcome[0].log
        return net

    # --- the chain -------------------------------------------------------------------

    @property
    def chain(self) -> Any:
        return self.race.chain

    @property
    def operators(self) -> list[str]:
        return self.race.operators

    @property
    def developer(self) -> str:
        return account(DEVELOPER)

    @property
    def queries(self) -> ChainQueries:
        return ChainQueries(InProcessNode(self.chain))  # type: ignore[arg-type]

    def block(self, messages: Iterable[tuple[str, Message]] = ()) -> list[Outcome]:
        outcomes = self.race.block(messages)
        for outcome in outcomes:
            self._record_tasks(outcome.events, outcome.height)
        return outcomes

    def _record_tasks(self, events: list[Event], height: int) -> None:
        for event in events:
            if event.type != "verification_task":
                continue
            found = dict(event.attributes)
            self.tasks.append(SettledTask(
                task_id=bytes.fromhex(found["task_id"]), executor=found["executor"],
                epoch=int(found["epoch"]), rate_ppm=int(found["check_rate_ppm"]),
                settled_height=height, request_id=bytes.fromhex(found["request_id"]),
                ticket_height=int(found["ticket_height"])))

    def advance_to(self, height: int) -> None:
        while self.chain.height < height:
            self.block()

    def epoch(self, number: int = 0) -> dict[str, Any]:
        return self.chain.query(f"/verification/epoch/{number}")

    def current_epoch(self) -> int:
        return int(self.epoch()["epoch"]["epoch"])

    def task(self, task_id: bytes) -> dict[str, Any]:
        return self.chain.query(f"/verification/task/{task_id.hex()}")["tasks"][0]

    def invariants(self) -> list[str]:
        return list(self.chain.query("/app/invariants")["broken"])

    # --- a verifier's part -------------------------------------------------------------

    @staticmethod
    def seed(index: int, epoch: int) -> bytes:
        """Validator ``index``'s seed: its account key's signature over the epoch."""
        return key_for(index).sign(seed_message(CHAIN_ID, epoch))

    def commit(self, indices: Iterable[int], epoch: int) -> list[Outcome]:
        return self.block((account(i), pb.MsgCommitVerifierSeed(
            verifier=account(i), epoch=epoch, commitment=seed_commitment(self.seed(i, epoch))))
            for i in indices)

    def reveal(self, indices: Iterable[int], epoch: int) -> list[Outcome]:
        return self.block((account(i), pb.MsgRevealVerifierSeed(
            verifier=account(i), epoch=epoch, seed=self.seed(i, epoch))) for i in indices)

    def view(self, epoch: int) -> EpochView:
        """The epoch's verifiers through the typed query an agent reads."""
        answer = self.queries.call("VerificationEpoch",
                                   pb.QueryVerificationEpochRequest(epoch=epoch))
        assert isinstance(answer, pb.QueryVerificationEpochResponse)
        return EpochView.of(answer)

    def drawn(self, index: int, tasks: Sequence[SettledTask] | None = None) -> list[bytes]:
        """The tasks validator ``index`` must check, as its agent computes them."""
        views: dict[int, EpochView] = {}
        found = []
        for task in self.tasks if tasks is None else tasks:
            view = views.get(task.epoch) or views.setdefault(task.epoch, self.view(task.epoch))
            if view.drawn(account(index), self.seed(index, task.epoch), task.task_id,
                          task.executor, task.rate_ppm, task.settled_height):
                found.append(task.task_id)
        return found

    def verdicts(self, index: int, verdicts: Sequence[tuple[bytes, int]],
                 reason: str = "") -> Outcome:
        return self.block([(account(index), pb.MsgPostVerdicts(
            verifier=account(index), verdicts=[pb.TaskVerdict(task_id=t, verdict=v,
                                                              reason=reason)
                                               for t, v in verdicts]))])[0]

    # --- an executor's part ------------------------------------------------------------

    def settle(self, executor: int, count: int, *, charge_tokens: tuple[int, int] = (10, 20)
               ) -> list[SettledTask]:
        """``count`` tickets run by ``executor`` and settled in one block; their tasks."""
        relay = relay_key()
        items = []
        for _ in range(count):
            ticket = ipb.Ticket(
                request_id=new_request_id(), key_hash=api_key_hash(SECRET), model=MODEL,
                max_cost_nicoin=10**12, executor=account(executor), relay=public(relay),
                height=self.chain.height - 1, prompt_hash=b"\x01" * 32, beacon_round=0,
                attempt=0)
            raw = encode_ticket(ticket)
            items.append(ipb.SettledTicket(
                ticket=raw, signature=relay.sign(ticket_signing_bytes(CHAIN_ID, raw)),
                prompt_tokens=charge_tokens[0], completion_tokens=charge_tokens[1],
                output_commitment=b"\x02" * 32))
        before = len(self.tasks)
        outcome = self.block([(account(executor), ipb.MsgSettleTickets(
            executor=account(executor), tickets=items))])[0]
        assert outcome.ok, outcome.log
        return self.tasks[before:]

    def report(self, task: SettledTask, reporter: str | None = None) -> Outcome:
        who = reporter or self.developer
        return self.block([(who, pb.MsgReportInference(
            reporter=who, request_id=task.request_id, reason="not the model's answer"))])[0]

    # --- epochs ------------------------------------------------------------------------

    def finish_epoch(self, epoch: int, revealers: Iterable[int] | None = None) -> None:
        """Run to ``epoch``'s end, reveal (everyone, or ``revealers``), run its audit."""
        while self.epoch(epoch)["epoch"]["status"] == "EPOCH_AUDIT_STATUS_OPEN":
            self.block()
        indices = range(len(self.operators)) if revealers is None else revealers
        outcomes = self.reveal(indices, epoch)
        assert all(o.ok for o in outcomes), [o.log for o in outcomes]
        while self.epoch(epoch)["epoch"]["status"] != "EPOCH_AUDIT_STATUS_AUDITED":
            self.block()

    def race_cycle(self) -> dict[str, Any]:
        """One Race cycle in which every validator races honestly; the closed cycle."""
        leaves = {op: synthetic_leaves(20, seed=i) for i, op in enumerate(self.operators)}
        closed = self.race.run_cycle(leaves)
        return closed


__all__ = ["FAIL", "PASS", "UNAVAILABLE", "VerificationNet", "account", "keeper"]
