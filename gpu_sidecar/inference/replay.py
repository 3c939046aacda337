"""The replay check: does an executor's output match what the model computes?

DESIGN.md section 6.5: a verifier replays prompt plus output in one teacher-forced
prefill pass and compares top-k logprobs. GPU kernels are not bit-exact across batch
sizes, so the comparison is a distance with a per-model threshold, not equality.

Distance at one output position (nats). The executor claimed, for that position, the
chosen token's logprob and the logprobs of its k most likely tokens; the replay has
the chosen token's logprob and its own K >= k most likely tokens. For every token
either side names among its top k:

* both sides know its logprob: ``|claimed - replayed|``;
* the replay does not list it: its true logprob is at most the replay's K-th value
  ``f``, so the distance is at least ``max(0, claimed - f)`` and that is used;
* the executor did not list it but the replay ranks it in the top k: the executor
  implicitly claimed it below its own k-th value ``c``, so ``max(0, replayed - c)``.

The position's distance is the mean over those tokens. The similarity is
``exp(-mean distance over positions)``. An output is accepted when the similarity is
at least the model's ``replay_min_similarity``, no position is further than
``replay_max_position_distance``, and the output is consistent with how it claims to
have been produced (see :func:`judge`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ClaimedPosition:
    """What the executor reported for one generated position."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class ReplayThresholds:
    """A model's acceptance limits (ModelSpec.replay_*)."""

    min_similarity: float
    max_position_distance: float
    greedy_tolerance: float
    min_token_logprob: float


@dataclass(frozen=True)
class ReplayVerdict:
    """The outcome of a replay: the score, the verdict and, when rejected, why."""

    accepted: bool
    similarity: float
    mean_distance: float
    max_position_distance: float
    worst_position: int
    reason: str
    positions_checked: int


def position_distance(claim: ClaimedPosition, replayed: dict[int, float]) -> float:
    """Mean absolute logprob distance at one position (module docstring)."""
    claimed = dict(claim.top)
    claimed.setdefault(claim.token_id, claim.logprob)
    replay_floor = min(replayed.values())
    claimed_floor = min(value for _, value in claim.top) if claim.top else claim.logprob
    k = len(claim.top)
    replay_top = sorted(replayed.items(), key=lambda item: item[1], reverse=True)[:k]
    total = 0.0
    count = 0
    for token_id, claimed_lp in claimed.items():
        if token_id in replayed:
            total += abs(claimed_lp - replayed[token_id])
        else:
            total += max(0.0, claimed_lp - replay_floor)
        count += 1
    for token_id, replayed_lp in replay_top:
        if token_id not in claimed:
            total += max(0.0, replayed_lp - claimed_floor)
            count += 1
    return total / count


def _structure_problem(
    output_token_ids: Sequence[int],
    claims: Sequence[ClaimedPosition],
    finish_reason: str,
    max_tokens: int | None,
    stop: Sequence[str],
    eos_token_ids: frozenset[int],
    decode: Callable[[Sequence[int]], str],
) -> str:
    """Why the output is inconsistent with its own claims, or ''."""
    if not output_token_ids:
        return "the output is empty: nothing to verify"
    if len(claims) != len(output_token_ids):
        return (f"{len(claims)} logprob entries for {len(output_token_ids)} output tokens")
    for position, (token_id, claim) in enumerate(zip(output_token_ids, claims, strict=True)):
        if claim.token_id != token_id:
            return (f"position {position}: logprobs name token {claim.token_id}, "
                    f"output has {token_id}")
    for position, token_id in enumerate(output_token_ids[:-1]):
        if token_id in eos_token_ids:
            return f"position {position}: the output continues past an end-of-sequence token"
    if finish_reason == "length":
        if max_tokens is not None and len(output_token_ids) != max_tokens:
            return (f"finish 'length' with {len(output_token_ids)} tokens, "
                    f"but max_tokens was {max_tokens}")
        return ""
    if finish_reason != "stop":
        return f"unknown finish reason {finish_reason!r}"
    if output_token_ids[-1] in eos_token_ids:
        return ""
    if stop:
        before = decode(output_token_ids[:-1])
        after = decode(output_token_ids)
        if any(s in before for s in stop):
            return "the output continues past a stop sequence"
        if any(s in after for s in stop):
            return ""
    return ("finish 'stop' but the output ends in neither an end-of-sequence token "
            "nor a stop sequence")


def judge(
    output_token_ids: Sequence[int],
    claims: Sequence[ClaimedPosition],
    replayed: Sequence[dict[int, float]],
    *,
    finish_reason: str,
    temperature: float,
    max_tokens: int | None,
    stop: Sequence[str],
    eos_token_ids: frozenset[int],
    decode: Callable[[Sequence[int]], str],
    thresholds: ReplayThresholds,
) -> ReplayVerdict:
    """Compare the executor's claims with the replayed logprobs and decide.

    ``replayed[i]`` holds the replay's logprobs at output position ``i`` (the actual
    token's and the top K). Rejections, in order of checking:

    1. structure: claims match the tokens, nothing after EOS, the finish reason is
       true (a truncated answer cannot pass as complete);
    2. greedy requests (temperature 0): every token is the replay's most likely one,
       within ``greedy_tolerance`` nats for near-ties;
    3. every chosen token is one the model could have sampled
       (logprob >= ``min_token_logprob``);
    4. the distance thresholds (module docstring).
    """
    problem = _structure_problem(output_token_ids, claims, finish_reason, max_tokens,
                                 stop, eos_token_ids, decode)
    if problem:
        return ReplayVerdict(False, 0.0, math.inf, math.inf, -1, problem, 0)
    if len(replayed) != len(output_token_ids):
        return ReplayVerdict(False, 0.0, math.inf, math.inf, -1,
                             "the replay covered a different number of positions", 0)
    distances = [position_distance(claim, here) for claim, here in zip(claims, replayed,
                                                                        strict=True)]
    mean_distance = sum(distances) / len(distances)
    worst = max(range(len(distances)), key=distances.__getitem__)
    similarity = math.exp(-mean_distance)
    reason = ""
    for position, (token_id, here) in enumerate(zip(output_token_ids, replayed, strict=True)):
        token_lp = here.get(token_id, -math.inf)
        if temperature == 0.0 and token_lp < max(here.values()) - thresholds.greedy_tolerance:
            reason = (f"position {position}: a greedy request chose token {token_id}, "
                      "which is not the model's most likely token")
            break
        if token_lp < thresholds.min_token_logprob:
            reason = (f"position {position}: token {token_id} has logprob {token_lp:.2f}, "
                      f"below {thresholds.min_token_logprob}")
            break
    if not reason and distances[worst] > thresholds.max_position_distance:
        reason = (f"position {worst}: logprob distance {distances[worst]:.4f} exceeds "
                  f"{thresholds.max_position_distance}")
    if not reason and similarity < thresholds.min_similarity:
        reason = f"similarity {similarity:.6f} is below {thresholds.min_similarity}"
    return ReplayVerdict(
        accepted=not reason,
        similarity=similarity,
        mean_distance=mean_distance,
        max_position_distance=distances[worst],
        worst_position=worst,
        reason=reason,
        positions_checked=len(distances),
    )
