"""The verifier draw: which settled tasks a weighted node must check (whitepaper section 6,
"Randomized task verification" and its "pseudo-random algorithm"; docs/verification.md).

* **The seed.** For each epoch a node's seed is its ed25519 signature over
  :func:`seed_message` (the chain id and the epoch), made with its operator key. It commits
  to :func:`seed_commitment` of it before the epoch's tasks exist, and reveals the seed
  after the epoch ends. Until then nobody else can compute its draw, so an executor cannot
  tell which of its tasks will be checked; afterwards anyone can recompute it.
* **The task id** (:func:`task_id`) names a settled ticket by its height and request id.
* **The rate.** A task's *check rate* is the expected number of checks it gets, in parts
  per million: :func:`check_rate_ppm` starts at ``new_rate_ppm`` for an executor with no
  reputation and halves every ``halving`` points of reputation down to ``min_rate_ppm``.
  A verifier's *chance* of being drawn for it is the rate times its share of the
  verifiers' weight, the executor's own weight left out, and at most certainty
  (:func:`chance_ppm`; the whitepaper's "a node with 50% of the voting weight may verify
  1 out of every 20 task results" at a rate of 10%).
* **The draw.** The first 8 bytes of SHA-256 over the seed and the task id, as an
  unsigned integer ``x``; the verifier is drawn when ``x * 10^6 < chance * 2^64``.
  Integers only, so the chain's audit and the agent agree bit for bit.
"""

from __future__ import annotations

import hashlib

PPM = 1_000_000
SEED_BYTES = 64
COMMITMENT_BYTES = 32
TASK_ID_BYTES = 32
REQUEST_ID_BYTES = 16
# A rate halves at most this many times: past it the shift would only give the minimum.
MAX_HALVINGS = 63
SEED_DOMAIN = b"race/v1/verification/seed\x00"
COMMITMENT_DOMAIN = b"race/v1/verification/seed-commitment\x00"
TASK_DOMAIN = b"race/v1/verification/task\x00"
DRAW_DOMAIN = b"race/v1/verification/draw\x00"


def seed_message(chain_id: str, epoch: int) -> bytes:
    """What a node signs to make its seed for ``epoch``: the domain, the chain id, the epoch."""
    if not 0 <= epoch < 2**64:
        raise ValueError(f"epoch must fit 64 bits, got {epoch}")
    chain = chain_id.encode("utf-8")
    return SEED_DOMAIN + len(chain).to_bytes(2, "big") + chain + epoch.to_bytes(8, "big")


def seed_commitment(seed: bytes) -> bytes:
    """SHA-256 of the domain and the seed: what a node commits before the epoch."""
    return hashlib.sha256(COMMITMENT_DOMAIN + seed).digest()


def task_id(ticket_height: int, request_id: bytes) -> bytes:
    """A settled ticket's task id: SHA-256 of the domain, its height and its request id."""
    if not 0 <= ticket_height < 2**63:
        raise ValueError(f"ticket height must fit 63 bits, got {ticket_height}")
    return hashlib.sha256(TASK_DOMAIN + ticket_height.to_bytes(8, "big")
                          + request_id).digest()


def check_rate_ppm(reputation: int, *, min_rate_ppm: int, new_rate_ppm: int,
                   halving: int) -> int:
    """The expected checks per task (ppm) of an executor with ``reputation``: the new
    executor's rate, halved every ``halving`` points, never below the minimum (whitepaper
    section 6, "Reputation": lower reputation means more checks)."""
    halvings = min(MAX_HALVINGS, max(0, reputation) // max(1, halving))
    return max(min_rate_ppm, new_rate_ppm >> halvings)


def chance_ppm(rate_ppm: int, weight: int, eligible_weight: int) -> int:
    """A verifier's chance (ppm) of being drawn for a task: the rate times its weight over
    the weight of every verifier but the executor, capped at certainty."""
    if weight <= 0 or eligible_weight <= 0:
        return 0
    return min(PPM, rate_ppm * weight // eligible_weight)


def draw_value(seed: bytes, task: bytes) -> int:
    """The first 8 bytes of SHA-256(domain, seed, task id), big-endian."""
    return int.from_bytes(hashlib.sha256(DRAW_DOMAIN + seed + task).digest()[:8], "big")


def is_drawn(seed: bytes, task: bytes, chance: int) -> bool:
    """Whether the holder of ``seed`` must check ``task``, at ``chance`` ppm."""
    return draw_value(seed, task) * PPM < chance << 64
