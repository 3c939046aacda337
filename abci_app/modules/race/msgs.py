"""The race module's messages (whitepaper section 4 and Appendix A; docs/race.md).

Each is checked statelessly first (addresses, sizes, encodings), then against the cycle in
progress. Every refusal has its own code and a log that says what to fix; a refused
message changes nothing.

* ``MsgRegisterProvider``: open entry: a consensus key, an operator (the signer) and a
  sidecar identity, none of them already registered.
* ``MsgCommitProof``: a node's root and count, from the race window to the commit deadline.
* ``MsgOpenProof``: some of a node's sampled leaves with their paths, in the opening window;
  each must prove its sampled rank under the node's own root and be a qualifying distance.
* ``MsgAttest``: a weighted node's verdicts on the opened nodes, once, in the validation
  window.
"""

from __future__ import annotations

from functools import lru_cache

from nacl.bindings import crypto_core_ed25519_is_valid_point

from abci_app.core.context import Context
from abci_app.modules.race import keeper
from abci_app.modules.race.errors import (
    ALREADY_ATTESTED,
    ALREADY_COMMITTED,
    CONSENSUS_KEY_TAKEN,
    INVALID_ADDRESS,
    INVALID_COMMITMENT,
    INVALID_PUB_KEY,
    INVALID_SIDECAR_IDENTITY,
    INVALID_VERDICTS,
    MALFORMED_OPENING,
    NOT_A_PROVIDER,
    NOT_COMMITTED,
    NOT_QUALIFYING,
    NOT_RACING_YET,
    NOT_WEIGHTED,
    OPENING_MISMATCH,
    OPERATOR_ALREADY_REGISTERED,
    SAMPLE_ALREADY_OPENED,
    SELF_VERDICT,
    SIDECAR_TAKEN,
    SIGNER_MISMATCH,
    UNKNOWN_SAMPLE,
    WRONG_CYCLE,
    WRONG_WINDOW,
)
from abci_app.modules.race.params import MAX_SAMPLE_SIZE
from abci_app.modules.staking import keeper as staking
from abci_app.tx import is_valid_address
from race_protocol.gen.race.v1 import race_pb2
from race_protocol.race.merkle import (
    HASH_BYTES,
    MAX_COUNT,
    InvalidOpening,
    Leaf,
    Opening,
    unpack_siblings,
    verify_opening,
)
from race_protocol.race.verdicts import InvalidVerdicts, decode_pair

ED25519_KEY_BYTES = 32
MAX_SIDECAR_IDENTITY_CHARS = 128
# Bitmaps over at most this many opened nodes (16 KiB each).
MAX_VERDICT_NODES = 131_072
VERIFIED_CACHE = 4_096


def _check_address(address: str, field: str) -> None:
    if not is_valid_address(address):
        raise INVALID_ADDRESS(f"{field} {address!r} is not a bech32 race1... address")


def _require_signer(ctx: Context, address: str, field: str) -> None:
    if address != ctx.signer:
        raise SIGNER_MISMATCH(f"{field} {address} must be the tx signer {ctx.signer}")


def _cycle_in(ctx: Context, cycle_id: int, status: int, first: int, last: int,
              window: str) -> keeper.Cycle:
    """The cycle in progress, if it is ``cycle_id`` in ``status`` and this block is in
    ``first..last``."""
    cycle = keeper.current_cycle(ctx)
    if cycle is None or cycle.cycle != cycle_id:
        now = "none" if cycle is None else str(cycle.cycle)
        raise WRONG_CYCLE(f"cycle {cycle_id} is not in progress (cycle {now} is)")
    if cycle.status != status or not first <= ctx.block.height <= last:
        raise WRONG_WINDOW(
            f"cycle {cycle_id} is {race_pb2.RaceCycleStatus.Name(cycle.status)}; the {window} "
            f"window is blocks {first}-{last}, this is block {ctx.block.height}")
    return cycle


# --- MsgRegisterProvider -------------------------------------------------------------------

def validate_basic_register_provider(msg: race_pb2.MsgRegisterProvider) -> None:
    """A valid operator, a valid ed25519 point, a printable sidecar identity."""
    _check_address(msg.operator, "operator")
    if len(msg.consensus_pub_key) != ED25519_KEY_BYTES or \
            not crypto_core_ed25519_is_valid_point(msg.consensus_pub_key):
        raise INVALID_PUB_KEY(
            f"consensus_pub_key must be the {ED25519_KEY_BYTES}-byte ed25519 key of the "
            "provider's CometBFT node (priv_validator_key.json), a valid curve point")
    identity = msg.sidecar_identity
    if not 1 <= len(identity) <= MAX_SIDECAR_IDENTITY_CHARS or \
            not all("!" <= c <= "~" for c in identity):
        raise INVALID_SIDECAR_IDENTITY(
            f"sidecar_identity must be 1 to {MAX_SIDECAR_IDENTITY_CHARS} printable ASCII "
            "characters without spaces, e.g. the SHA-256 fingerprint of its TLS certificate")


def handle_register_provider(ctx: Context, msg: race_pb2.MsgRegisterProvider) -> None:
    """Whitepaper section 4: anyone with a GPU can join. The provider races from the next
    cycle; no key or sidecar may serve two providers, and a key already validating stays
    with its validator."""
    _require_signer(ctx, msg.operator, "operator")
    if keeper.get_provider(ctx, msg.operator) is not None:
        raise OPERATOR_ALREADY_REGISTERED(f"{msg.operator} is already a provider; one "
                                          "provider per operator account")
    key = bytes(msg.consensus_pub_key)
    owner = keeper.provider_of_key(ctx, key)
    if owner is not None or staking.get_validator(ctx, staking.consensus_address(key)):
        raise CONSENSUS_KEY_TAKEN(
            f"consensus key {key.hex()} already belongs to "
            f"{owner or 'a validator'}; each provider runs its own CometBFT node")
    sidecar_owner = keeper.provider_of_sidecar(ctx, msg.sidecar_identity)
    if sidecar_owner is not None:
        raise SIDECAR_TAKEN(f"sidecar {msg.sidecar_identity!r} is registered by "
                            f"{sidecar_owner}; each provider races on its own sidecar")
    cycle = keeper.current_cycle(ctx)
    first_cycle = (cycle.cycle if cycle is not None else 0) + 1
    keeper.put_provider(ctx, keeper.Provider(msg.operator, key, msg.sidecar_identity,
                                             ctx.block.height, first_cycle))
    ctx.emit("race_provider", operator=msg.operator,
             consensus_address=staking.consensus_address(key),
             sidecar_identity=msg.sidecar_identity, first_cycle=first_cycle)


# --- MsgCommitProof ------------------------------------------------------------------------

def validate_basic_commit(msg: race_pb2.MsgCommitProof) -> None:
    """A valid operator, a cycle, a 32-byte root and a count of at least one leaf."""
    _check_address(msg.operator, "operator")
    if msg.cycle < 1:
        raise WRONG_CYCLE("cycle must be at least 1")
    if len(msg.root) != HASH_BYTES:
        raise INVALID_COMMITMENT(f"root must be {HASH_BYTES} bytes, got {len(msg.root)}")
    if not 1 <= msg.count <= MAX_COUNT:
        raise INVALID_COMMITMENT(f"count must be between 1 and {MAX_COUNT}, got "
                                 f"{msg.count}; a node without hits commits nothing")


def handle_commit(ctx: Context, msg: race_pb2.MsgCommitProof) -> None:
    """Appendix A: the proof of a node's capacity is its qualifying nonces; here their
    root and count, once per cycle, before the commit deadline."""
    _require_signer(ctx, msg.operator, "operator")
    provider = keeper.get_provider(ctx, msg.operator)
    if provider is None:
        raise NOT_A_PROVIDER(f"{msg.operator} is not a provider; register with "
                             "`race provider register` first")
    if provider.first_cycle > msg.cycle:
        raise NOT_RACING_YET(f"{msg.operator} registered during cycle "
                             f"{provider.first_cycle - 1} and races from cycle "
                             f"{provider.first_cycle}")
    probe = keeper.current_cycle(ctx)
    start = probe.race_start_height if probe is not None else 0
    end = probe.commit_end_height if probe is not None else 0
    cycle = _cycle_in(ctx, msg.cycle, keeper.RACING, start, end, "race and commit")
    if keeper.get_entry(ctx, cycle.cycle, msg.operator) is not None:
        raise ALREADY_COMMITTED(f"{msg.operator} already committed in cycle {cycle.cycle}")
    keeper.put_entry(ctx, keeper.Entry(cycle.cycle, msg.operator, keeper.COMMITTED,
                                       bytes(msg.root), msg.count, ctx.block.height))
    keeper.update_cycle(ctx, cycle, committed=cycle.committed + 1)
    keeper.bump_record(ctx, msg.operator, committed=1)
    ctx.emit("race_commit", cycle=cycle.cycle, operator=msg.operator, count=msg.count,
             root=bytes(msg.root).hex())


# --- MsgOpenProof --------------------------------------------------------------------------

def _opening(item: race_pb2.SampleOpening) -> Opening:
    try:
        siblings = unpack_siblings(item.depth, bytes(item.empty_siblings),
                                   [bytes(h) for h in item.sibling_hashes],
                                   list(item.sibling_counts))
        return Opening(Leaf(item.nonce, item.distance_scaled), siblings)
    except (InvalidOpening, ValueError) as bad:
        raise MALFORMED_OPENING(f"sample {item.sample}: {bad}") from None


def validate_basic_open(msg: race_pb2.MsgOpenProof) -> None:
    """A valid operator and cycle; 1 to k openings of distinct samples, each a
    well-formed path."""
    _check_address(msg.operator, "operator")
    if msg.cycle < 1:
        raise WRONG_CYCLE("cycle must be at least 1")
    if not 1 <= len(msg.openings) <= MAX_SAMPLE_SIZE:
        raise MALFORMED_OPENING(f"an opening carries 1 to {MAX_SAMPLE_SIZE} samples, got "
                                f"{len(msg.openings)}")
    samples = [item.sample for item in msg.openings]
    if len(set(samples)) != len(samples):
        raise MALFORMED_OPENING("a sample is opened twice in one message")
    for item in msg.openings:
        _opening(item)


@lru_cache(maxsize=VERIFIED_CACHE)
def _path_problem(root: bytes, count: int, rank: int, opening: Opening) -> str:
    """Why ``opening`` does not prove rank ``rank`` under ``(root, count)`` ("" when it
    does). A pure function of its arguments, so CheckTx's verdict is reused in
    FinalizeBlock."""
    try:
        verify_opening(root, count, rank, opening)
    except InvalidOpening as bad:
        return str(bad)
    return ""


def handle_open(ctx: Context, msg: race_pb2.MsgOpenProof) -> None:
    """Each opening must be one of the node's drawn samples, not yet opened, a leaf whose
    distance is under the threshold, and prove its sampled rank under the node's root."""
    _require_signer(ctx, msg.operator, "operator")
    probe = keeper.current_cycle(ctx)
    first = (probe.opened_height + 1) if probe is not None else 0
    last = probe.open_end_height if probe is not None else 0
    cycle = _cycle_in(ctx, msg.cycle, keeper.OPENING, first, last, "opening")
    entry = keeper.get_entry(ctx, cycle.cycle, msg.operator)
    if entry is None:
        raise NOT_COMMITTED(f"{msg.operator} committed nothing in cycle {cycle.cycle}")
    if entry.status != keeper.COMMITTED:
        raise SAMPLE_ALREADY_OPENED(f"{msg.operator} has opened all its samples")
    ranks = keeper.ranks_of(cycle, entry)
    threshold = cycle.race_params.threshold_scaled
    opened: list[keeper.OpenedLeaf] = []
    for item in msg.openings:
        if item.sample >= len(ranks):
            raise UNKNOWN_SAMPLE(f"{msg.operator} has samples 0..{len(ranks) - 1} in cycle "
                                 f"{cycle.cycle}, not {item.sample}")
        if keeper.is_opened(ctx, cycle.cycle, msg.operator, item.sample):
            raise SAMPLE_ALREADY_OPENED(f"sample {item.sample} is already open")
        if item.distance_scaled >= threshold:
            raise NOT_QUALIFYING(f"sample {item.sample}: distance {item.distance_scaled} is "
                                 f"not under the threshold {threshold}")
        rank = ranks[item.sample]
        problem = _path_problem(entry.root, entry.count, rank, _opening(item))
        if problem:
            raise OPENING_MISMATCH(f"sample {item.sample} (rank {rank}): {problem}")
        opened.append(keeper.OpenedLeaf(item.sample, rank, item.nonce, item.distance_scaled))
    for leaf in opened:
        keeper.put_opening(ctx, cycle.cycle, msg.operator, leaf)
    count = entry.opened_samples + len(opened)
    status = keeper.OPENED if count == entry.samples else keeper.COMMITTED
    keeper.update_entry(ctx, entry, opened_samples=count, status=status)
    ctx.emit("race_open", cycle=cycle.cycle, operator=msg.operator, opened=len(opened),
             total_opened=count, samples=entry.samples)


# --- MsgAttest -----------------------------------------------------------------------------

def validate_basic_attest(msg: race_pb2.MsgAttest) -> None:
    """A valid attester and cycle; bitmaps no longer than :data:`MAX_VERDICT_NODES` bits."""
    _check_address(msg.attester, "attester")
    if msg.cycle < 1:
        raise WRONG_CYCLE("cycle must be at least 1")
    limit = (MAX_VERDICT_NODES + 7) // 8
    if len(msg.passed) > limit or len(msg.failed) > limit:
        raise INVALID_VERDICTS(f"verdict bitmaps are at most {limit} bytes")


def handle_attest(ctx: Context, msg: race_pb2.MsgAttest) -> None:
    """Appendix A, "Validation of proof": a weighted node's verdicts on the recomputed
    samples. Its weight joins the pass or fail tally of each node it judged."""
    _require_signer(ctx, msg.attester, "attester")
    probe = keeper.current_cycle(ctx)
    first = (probe.open_end_height + 1) if probe is not None else 0
    last = probe.validation_end_height if probe is not None else 0
    cycle = _cycle_in(ctx, msg.cycle, keeper.VALIDATING, first, last, "validation")
    weight = staking.voting_power_of_account(ctx, msg.attester)
    if weight <= 0:
        raise NOT_WEIGHTED(f"{msg.attester} operates no validator with voting weight; only "
                           "weighted nodes attest")
    if keeper.has_attested(ctx, cycle.cycle, msg.attester):
        raise ALREADY_ATTESTED(f"{msg.attester} already attested in cycle {cycle.cycle}")
    try:
        passing, failing = decode_pair(bytes(msg.passed), bytes(msg.failed), cycle.opened)
    except InvalidVerdicts as bad:
        raise INVALID_VERDICTS(f"cycle {cycle.cycle} has {cycle.opened} opened nodes: "
                               f"{bad}") from None
    own = keeper.get_entry(ctx, cycle.cycle, msg.attester)
    if own is not None and own.validation_index in set(passing) | set(failing):
        raise SELF_VERDICT(f"{msg.attester} is node {own.validation_index} of the bitmaps; "
                           "leave its own bit clear")
    cycle = keeper.record_attestation(ctx, cycle, msg.attester, weight, bytes(msg.passed),
                                      bytes(msg.failed), passing, failing)
    ctx.emit("race_attest", cycle=cycle.cycle, attester=msg.attester, weight=weight,
             passed=len(passing), failed=len(failing))

