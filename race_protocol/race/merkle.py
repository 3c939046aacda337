"""Proof commitments: a node's qualifying leaves in one Merkle root (docs/race.md, "Proof
commitments"; whitepaper Appendix A, "Validation of proof").

A GPU finds about 10^5 qualifying nonces in a 10-minute Race, so they never go on chain
one by one. A node commits a root over its leaves ``(nonce, distance_scaled)`` and their
count; the beacon then picks sample ranks, and the node opens just those leaves.

The tree is a **binary trie keyed by the nonce's 64 bits** (most significant first), each
node carrying the number of leaves below it:

* a subtree with no leaf is empty (:data:`EMPTY_HASH`, count 0);
* a subtree with exactly one leaf is that leaf, wherever it sits (``leaf_hash``, count 1);
* any other subtree is an inner node ``H(inner tag || left hash || left count || right
  hash || right count)``.

The leaf with rank ``r`` is the ``r``-th smallest nonce; an opening is the leaf and the
siblings on its path, from the leaf up. Verifying recomputes the root, the count (the sum
of the counts on the path), and the rank (the counts of the siblings to the left). Why
this shape rather than a list sorted by nonce with each sampled leaf's successor opened:

* **A nonce cannot be counted twice.** A leaf's position is its nonce, so two leaves with
  one nonce would share a position. A sorted list only shows order where it is opened:
  a list repeated twice (``a b c a b c``) has a single descent, so the successors of
  almost every sample look fine.
* **A count larger than the leaves is caught in proportion.** Samples are ranks drawn
  uniformly below the committed count; a rank is openable only if every node on its path
  carries the sum of its children's counts and the path ends in a leaf (count 1). The
  ranks whose paths pass an inflated count cannot be opened, and those reaching a leaf
  are distinct leaves, so a node claiming ``C`` with ``n`` real hits passes a sample with
  probability at most ``n / C``.

Hashes are SHA-256 with a tag per kind (leaf, inner, empty), so no leaf can pass for an
inner node or the reverse. Pure Python: the chain verifies openings with it.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KEY_BITS = 64
HASH_BYTES = 32
MAX_NONCE = (1 << KEY_BITS) - 1
MAX_DISTANCE = (1 << 64) - 1
# Counts travel as 8-byte big-endian integers; 2^62 leaves is far beyond any Race.
MAX_COUNT = 1 << 62
LEAF_TAG = b"race/v1/proof-tree/leaf"
INNER_TAG = b"race/v1/proof-tree/inner"
EMPTY_HASH = hashlib.sha256(b"race/v1/proof-tree/empty").digest()


class InvalidOpening(ValueError):
    """An opening that does not prove its leaf under the committed root; says why."""


@dataclass(frozen=True, order=True)
class Leaf:
    """One qualifying nonce and its distance to the target, scaled by 10^6 (an integer)."""

    nonce: int
    distance_scaled: int

    def __post_init__(self) -> None:
        if not 0 <= self.nonce <= MAX_NONCE:
            raise ValueError(f"nonce {self.nonce} is not a uint64")
        if not 0 <= self.distance_scaled <= MAX_DISTANCE:
            raise ValueError(f"distance_scaled {self.distance_scaled} is not a uint64")


@dataclass(frozen=True)
class Sibling:
    """A non-empty subtree beside an opened path: its hash and how many leaves it holds."""

    hash: bytes
    count: int


@dataclass(frozen=True)
class Opening:
    """A leaf and its path: ``siblings[i]`` is the subtree beside the path ``i`` levels
    above the leaf (None: empty). The leaf sits ``len(siblings)`` levels below the root."""

    leaf: Leaf
    siblings: tuple[Sibling | None, ...]

    @property
    def depth(self) -> int:
        return len(self.siblings)


def leaf_hash(leaf: Leaf) -> bytes:
    """H(leaf tag || nonce (8 bytes) || distance_scaled (8 bytes)), big-endian."""
    return hashlib.sha256(LEAF_TAG + leaf.nonce.to_bytes(8, "big")
                          + leaf.distance_scaled.to_bytes(8, "big")).digest()


def inner_hash(left: bytes, left_count: int, right: bytes, right_count: int) -> bytes:
    """H(inner tag || left hash || left count (8 bytes) || right hash || right count)."""
    return hashlib.sha256(INNER_TAG + left + left_count.to_bytes(8, "big") + right
                          + right_count.to_bytes(8, "big")).digest()


def _bit(nonce: int, depth: int) -> int:
    """Which child of the node at ``depth - 1`` a path to ``nonce`` takes (0 left, 1 right):
    the nonce's bit ``KEY_BITS - depth``, most significant first."""
    return (nonce >> (KEY_BITS - depth)) & 1


class ProofTree:
    """The tree over one node's leaves: its root and count, and an opening per rank."""

    def __init__(self, leaves: Iterable[Leaf]) -> None:
        ordered = sorted(leaves)
        nonces = [leaf.nonce for leaf in ordered]
        for before, after in zip(nonces, nonces[1:], strict=False):
            if before == after:
                raise ValueError(f"nonce {before} appears twice: each nonce is one proof")
        if len(ordered) > MAX_COUNT:
            raise ValueError(f"more than {MAX_COUNT} leaves")
        self.leaves: tuple[Leaf, ...] = tuple(ordered)
        self._nonces = nonces
        # (depth, first rank, end rank) -> hash, for every non-empty subtree.
        self._hashes: dict[tuple[int, int, int], bytes] = {}
        self.root = self._build(0, 0, len(ordered))

    @property
    def count(self) -> int:
        return len(self.leaves)

    def _split(self, depth: int, lo: int, hi: int) -> int:
        """First rank in ``[lo, hi)`` whose nonce takes the right child below ``depth``."""
        shift = KEY_BITS - depth - 1
        prefix = (self._nonces[lo] >> (shift + 1)) << (shift + 1)
        return bisect_left(self._nonces, prefix | (1 << shift), lo, hi)

    def _build(self, depth: int, lo: int, hi: int) -> bytes:
        # Iterative post-order: a 64-level trie never nears Python's recursion limit, but
        # building without recursion keeps a large tree's cost flat.
        stack: list[tuple[int, int, int, bool]] = [(depth, lo, hi, False)]
        while stack:
            d, a, b, expanded = stack.pop()
            if b - a == 0:
                continue
            if b - a == 1:
                self._hashes[(d, a, b)] = leaf_hash(self.leaves[a])
                continue
            split = self._split(d, a, b)
            if not expanded:
                stack.append((d, a, b, True))
                stack.append((d + 1, a, split, False))
                stack.append((d + 1, split, b, False))
                continue
            self._hashes[(d, a, b)] = inner_hash(
                self._hashes.get((d + 1, a, split), EMPTY_HASH), split - a,
                self._hashes.get((d + 1, split, b), EMPTY_HASH), b - split)
        return self._hashes.get((depth, lo, hi), EMPTY_HASH)

    def prove(self, rank: int) -> Opening:
        """The opening of the leaf with ``rank`` (0 is the smallest nonce)."""
        if not 0 <= rank < self.count:
            raise IndexError(f"rank {rank} outside 0..{self.count - 1}")
        path: list[Sibling | None] = []
        depth, lo, hi = 0, 0, self.count
        while hi - lo > 1:
            split = self._split(depth, lo, hi)
            if rank < split:
                beside, (lo, hi) = (split, hi), (lo, split)
            else:
                beside, (lo, hi) = (lo, split), (split, hi)
            depth += 1
            size = beside[1] - beside[0]
            path.append(None if size == 0 else
                        Sibling(self._hashes[(depth, beside[0], beside[1])], size))
        path.reverse()
        return Opening(self.leaves[rank], tuple(path))


def root_of(leaves: Iterable[Leaf]) -> tuple[bytes, int]:
    """(root, count) of ``leaves``."""
    tree = ProofTree(leaves)
    return tree.root, tree.count


def verify_opening(root: bytes, count: int, rank: int, opening: Opening) -> None:
    """Raise :class:`InvalidOpening` unless ``opening`` proves that the leaf with ``rank``
    in the tree committed as ``(root, count)`` is ``opening.leaf``.

    Recomputes the root bottom-up, summing the counts on the path (they must add up to
    ``count``) and the counts of the siblings to the left (they must add up to ``rank``).
    """
    if not 1 <= count <= MAX_COUNT:
        raise InvalidOpening(f"count {count} is outside 1..{MAX_COUNT}")
    if not 0 <= rank < count:
        raise InvalidOpening(f"rank {rank} is outside 0..{count - 1}")
    if len(root) != HASH_BYTES:
        raise InvalidOpening(f"the root is {len(root)} bytes, not {HASH_BYTES}")
    depth = len(opening.siblings)
    if depth > KEY_BITS:
        raise InvalidOpening(f"a path of {depth} levels is longer than the {KEY_BITS}-bit key")
    nonce = opening.leaf.nonce
    current, below, left_of = leaf_hash(opening.leaf), 1, 0
    for step, sibling in enumerate(opening.siblings):
        if sibling is None:
            other, other_count = EMPTY_HASH, 0
        else:
            if len(sibling.hash) != HASH_BYTES or not 1 <= sibling.count <= MAX_COUNT:
                raise InvalidOpening(f"sibling {step} is not a {HASH_BYTES}-byte hash with a "
                                     f"count in 1..{MAX_COUNT}")
            other, other_count = sibling.hash, sibling.count
        if _bit(nonce, depth - step):
            current = inner_hash(other, other_count, current, below)
            left_of += other_count
        else:
            current = inner_hash(current, below, other, other_count)
        below += other_count
        if below > MAX_COUNT:
            raise InvalidOpening(f"the counts on the path pass {MAX_COUNT}")
    if below != count:
        raise InvalidOpening(f"the path holds {below} leaves, the commitment {count}")
    if left_of != rank:
        raise InvalidOpening(f"the leaf has rank {left_of}, not the sampled {rank}")
    if current != root:
        raise InvalidOpening("the path does not lead to the committed root")


def pack_siblings(siblings: Sequence[Sibling | None]) -> tuple[bytes, list[bytes], list[int]]:
    """The wire form of a path: a bit mask of empty siblings (bit ``i`` of byte ``i // 8``,
    least significant first, set when sibling ``i`` is empty), then the non-empty
    siblings' hashes and counts, leaf upwards."""
    mask = bytearray((len(siblings) + 7) // 8)
    hashes: list[bytes] = []
    counts: list[int] = []
    for index, sibling in enumerate(siblings):
        if sibling is None:
            mask[index // 8] |= 1 << (index % 8)
        else:
            hashes.append(sibling.hash)
            counts.append(sibling.count)
    return bytes(mask), hashes, counts


def unpack_siblings(depth: int, mask: bytes, hashes: Sequence[bytes],
                    counts: Sequence[int]) -> tuple[Sibling | None, ...]:
    """The path :func:`pack_siblings` wrote; raises InvalidOpening when the parts disagree."""
    if not 0 <= depth <= KEY_BITS:
        raise InvalidOpening(f"depth {depth} is outside 0..{KEY_BITS}")
    if len(mask) != (depth + 7) // 8:
        raise InvalidOpening(f"the empty-sibling mask is {len(mask)} bytes; a path of "
                             f"{depth} levels needs {(depth + 7) // 8}")
    if len(hashes) != len(counts):
        raise InvalidOpening("one count per sibling hash")
    if depth % 8 and mask[-1] >> (depth % 8):
        raise InvalidOpening("the empty-sibling mask has bits past the path")
    siblings: list[Sibling | None] = []
    taken = 0
    for index in range(depth):
        if mask[index // 8] >> (index % 8) & 1:
            siblings.append(None)
            continue
        if taken >= len(hashes):
            raise InvalidOpening("fewer sibling hashes than non-empty siblings in the mask")
        siblings.append(Sibling(bytes(hashes[taken]), int(counts[taken])))
        taken += 1
    if taken != len(hashes):
        raise InvalidOpening("more sibling hashes than non-empty siblings in the mask")
    return tuple(siblings)
