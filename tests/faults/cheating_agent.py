"""A node agent whose Race duty cheats in one of four ways (docs/race.md, "What a cheater
can try").

``python -m tests.faults.cheating_agent --cheat MODE [race agent start options]`` runs the
real ``race agent start`` with every duty as built for production, except that its Race
duty is a :class:`~race_node.agent.race.RaceRunner` variant:

* ``inflate``: commits its hits plus three times as many fabricated leaves (random nonces
  with distances under the threshold that no forward pass produced);
* ``reuse``: counts each hit twice: its tree gives every leaf a count of 2, its
  commitment claims twice its hits;
* ``other-seed``: races a different model, seeded by a hash of the race seed, and
  commits those hits;
* ``bad-opening``: commits its real hits but opens leaves that are not in that tree.

Each must end with the node caught and weight 0: fabricated leaves and another seed's
hits fail the validators' recomputation; doubled counts and foreign leaves do not open
under the committed root, so the samples stay unopened. The production command has no
such switch.
"""

from __future__ import annotations

import hashlib
import random
import sys
from bisect import bisect_left
from collections.abc import Sequence

from governance.main import app
from race_node.agent import runner
from race_node.agent.agent import NodeAgent
from race_node.agent.config import AgentConfig
from race_node.agent.race import CycleRecord, RaceLedger, RaceRunner, race_duty
from race_protocol.race.config import SMALL_CONFIG
from race_protocol.race.merkle import (
    EMPTY_HASH,
    KEY_BITS,
    Leaf,
    Opening,
    inner_hash,
    leaf_hash,
)

MODES = ("inflate", "reuse", "other-seed", "bad-opening")
FABRICATED_PER_HIT = 3

build_production_agent = runner.build_agent


class InflatingRunner(RaceRunner):
    """Pads its hits with fabricated leaves."""

    def leaves_to_commit(self, record: CycleRecord) -> list[Leaf]:
        real = record.leaves
        rng = random.Random(record.cycle)
        taken = {leaf.nonce for leaf in real}
        fabricated: list[Leaf] = []
        while len(fabricated) < FABRICATED_PER_HIT * len(real):
            nonce = rng.randrange(1 << 63, 1 << 64)
            if nonce not in taken:
                taken.add(nonce)
                fabricated.append(Leaf(nonce, rng.randrange(SMALL_CONFIG.threshold_scaled)))
        return real + fabricated


def doubled_root(leaves: Sequence[Leaf]) -> bytes:
    """The root of the tree over ``leaves`` if each leaf counted twice (the trie's shape,
    with every count doubled)."""
    ordered = sorted(leaves)
    nonces = [leaf.nonce for leaf in ordered]

    def node(depth: int, lo: int, hi: int) -> tuple[bytes, int]:
        if hi == lo:
            return EMPTY_HASH, 0
        if hi - lo == 1:
            return leaf_hash(ordered[lo]), 2
        shift = KEY_BITS - depth - 1
        prefix = (nonces[lo] >> (shift + 1)) << (shift + 1)
        split = bisect_left(nonces, prefix | (1 << shift), lo, hi)
        left, right = node(depth + 1, lo, split), node(depth + 1, split, hi)
        return inner_hash(left[0], left[1], right[0], right[1]), left[1] + right[1]

    return node(0, 0, len(ordered))[0]


class ReusingRunner(RaceRunner):
    """Counts every hit twice."""

    def commitment(self, record: CycleRecord) -> tuple[bytes, int]:
        leaves = self.leaves_to_commit(record)
        return doubled_root(leaves), 2 * len(leaves)

    def openings_for(self, record: CycleRecord, ranks: list[int]) -> list[tuple[int, Opening]]:
        tree = self.tree(record)
        return [(sample, tree.prove(rank // 2)) for sample, rank in enumerate(ranks)]


class OtherSeedRunner(RaceRunner):
    """Races a model that is not the cycle's."""

    def race_seed_for(self, race_seed: bytes) -> bytes:
        return hashlib.sha256(b"not the race seed" + race_seed).digest()


class BadOpeningRunner(RaceRunner):
    """Opens leaves that are not under its root."""

    def openings_for(self, record: CycleRecord, ranks: list[int]) -> list[tuple[int, Opening]]:
        honest = super().openings_for(record, ranks)
        return [(sample, Opening(Leaf(opening.leaf.nonce ^ 1, opening.leaf.distance_scaled),
                                 opening.siblings)) for sample, opening in honest]


RUNNERS: dict[str, type[RaceRunner]] = {
    "inflate": InflatingRunner, "reuse": ReusingRunner, "other-seed": OtherSeedRunner,
    "bad-opening": BadOpeningRunner,
}


# The cheat ``build_cheating_agent`` builds in; set from the command line.
cheat_mode = "inflate"


def build_cheating_agent(config: AgentConfig) -> NodeAgent:
    """The production agent, its Race duty swapped for one that cheats in ``cheat_mode``."""
    agent = build_production_agent(config)
    cheat = RUNNERS[cheat_mode](RaceLedger(config.agent_dir))
    for duty in agent.duties:
        if duty.name == "race":
            duty.handler = race_duty(config.agent_dir, cheat)
    return agent


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) < 2 or arguments[0] != "--cheat" or arguments[1] not in MODES:
        raise SystemExit(f"usage: python -m tests.faults.cheating_agent --cheat "
                         f"{{{','.join(MODES)}}} [race agent start options]")
    cheat_mode = arguments[1]
    runner.build_agent = build_cheating_agent
    app(["agent", "start", *arguments[2:]], prog_name="race")
