"""The proof tree (race_protocol/race/merkle.py): every rank opens and verifies; nothing
else does. Properties over random leaf sets, and the attacks the tree exists to stop: a
nonce counted twice, a count above the leaves, a leaf swapped, a path from another tree."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from race_protocol.race.merkle import (
    EMPTY_HASH,
    InvalidOpening,
    Leaf,
    Opening,
    ProofTree,
    Sibling,
    inner_hash,
    leaf_hash,
    pack_siblings,
    unpack_siblings,
    verify_opening,
)

nonces = st.integers(min_value=0, max_value=2**64 - 1)
leaf_sets = st.lists(st.tuples(nonces, st.integers(min_value=0, max_value=2**40)),
                     min_size=1, max_size=60, unique_by=lambda pair: pair[0])


def tree_of(pairs: list[tuple[int, int]]) -> ProofTree:
    return ProofTree(Leaf(n, d) for n, d in pairs)


@settings(max_examples=150, deadline=None)
@given(leaf_sets)
def test_every_rank_opens_to_the_leaf_of_that_rank(pairs: list[tuple[int, int]]) -> None:
    tree = tree_of(pairs)
    ordered = sorted(Leaf(n, d) for n, d in pairs)
    for rank in range(tree.count):
        opening = tree.prove(rank)
        assert opening.leaf == ordered[rank]
        verify_opening(tree.root, tree.count, rank, opening)


@settings(max_examples=100, deadline=None)
@given(leaf_sets, st.data())
def test_an_opening_proves_only_its_own_rank(pairs: list[tuple[int, int]],
                                             data: st.DataObject) -> None:
    tree = tree_of(pairs)
    rank = data.draw(st.integers(0, tree.count - 1))
    other = data.draw(st.integers(0, tree.count - 1).filter(lambda r: r != rank)) \
        if tree.count > 1 else None
    opening = tree.prove(rank)
    if other is not None:
        with pytest.raises(InvalidOpening):
            verify_opening(tree.root, tree.count, other, opening)
    with pytest.raises(InvalidOpening):
        verify_opening(tree.root, tree.count + 1, rank, opening)


@settings(max_examples=100, deadline=None)
@given(leaf_sets, st.data())
def test_a_changed_leaf_or_sibling_does_not_verify(pairs: list[tuple[int, int]],
                                                   data: st.DataObject) -> None:
    tree = tree_of(pairs)
    rank = data.draw(st.integers(0, tree.count - 1))
    opening = tree.prove(rank)
    moved = replace(opening, leaf=Leaf(opening.leaf.nonce, opening.leaf.distance_scaled + 1))
    with pytest.raises(InvalidOpening):
        verify_opening(tree.root, tree.count, rank, moved)
    present = [i for i, s in enumerate(opening.siblings) if s is not None]
    if present:
        index = data.draw(st.sampled_from(present))
        sibling = opening.siblings[index]
        assert sibling is not None
        for forged in (Sibling(sibling.hash, sibling.count + 1),
                       Sibling(bytes(32), sibling.count)):
            siblings = list(opening.siblings)
            siblings[index] = forged
            with pytest.raises(InvalidOpening):
                verify_opening(tree.root, tree.count, rank, Opening(opening.leaf,
                                                                    tuple(siblings)))


@settings(max_examples=100, deadline=None)
@given(leaf_sets)
def test_the_wire_form_round_trips(pairs: list[tuple[int, int]]) -> None:
    tree = tree_of(pairs)
    for rank in range(tree.count):
        opening = tree.prove(rank)
        mask, hashes, counts = pack_siblings(opening.siblings)
        assert unpack_siblings(opening.depth, mask, hashes, counts) == opening.siblings


def test_a_nonce_cannot_be_counted_twice() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        ProofTree([Leaf(7, 1), Leaf(7, 1)])


def test_a_tree_claiming_each_leaf_twice_opens_no_rank() -> None:
    """A forged tree whose leaves each claim a count of 2 (the only way to count a nonce
    twice when positions are nonces): every rank's path recomputes with count 1 at the
    leaf, so it misses the forged root."""
    leaves = sorted(Leaf(n, 5) for n in (3, 900, 2**40, 2**63 + 1))
    hashes = [leaf_hash(leaf) for leaf in leaves]
    # The honest shape, but each leaf's count doubled in its parent's hash.
    left = inner_hash(hashes[0], 2, hashes[1], 2)
    right = inner_hash(hashes[2], 2, hashes[3], 2)
    honest = ProofTree(leaves)
    assert honest.prove(0).depth >= 2
    forged_root = inner_hash(left, 4, right, 4)
    for rank in range(8):
        opening = honest.prove(rank % 4)
        with pytest.raises(InvalidOpening):
            verify_opening(forged_root, 8, rank, opening)


def test_a_count_above_the_leaves_leaves_the_extra_ranks_unopenable() -> None:
    tree = ProofTree(Leaf(n, 1) for n in range(0, 1000, 7))
    for rank in range(tree.count, tree.count + 20):
        for candidate in range(tree.count):
            with pytest.raises(InvalidOpening):
                verify_opening(tree.root, tree.count + 20, rank, tree.prove(candidate))


def test_malformed_paths_are_refused() -> None:
    tree = ProofTree(Leaf(n, 1) for n in (1, 2, 3))
    opening = tree.prove(1)
    mask, hashes, counts = pack_siblings(opening.siblings)
    with pytest.raises(InvalidOpening):
        unpack_siblings(opening.depth, mask + b"\x00", hashes, counts)
    with pytest.raises(InvalidOpening):
        unpack_siblings(opening.depth, mask, hashes[:-1], counts)
    with pytest.raises(InvalidOpening):
        unpack_siblings(65, bytes(9), [], [])
    with pytest.raises(InvalidOpening):
        verify_opening(tree.root, tree.count, 1, Opening(opening.leaf, (None,) * 65))


def test_a_single_leaf_is_its_own_root_and_the_empty_hash_is_fixed() -> None:
    tree = ProofTree([Leaf(42, 9)])
    assert tree.root == leaf_hash(Leaf(42, 9)) and tree.prove(0).siblings == ()
    assert ProofTree([]).root == EMPTY_HASH


def test_known_answer() -> None:
    """Pins the hash layout (docs/race.md, "Proof commitments")."""
    tree = ProofTree([Leaf(1, 10), Leaf(2**63, 20)])
    assert leaf_hash(Leaf(1, 10)).hex() == LEAF
    assert tree.root == inner_hash(leaf_hash(Leaf(1, 10)), 1, leaf_hash(Leaf(2**63, 20)), 1)
    assert tree.root.hex() == ROOT


LEAF = "039f8bce5ea89de653513dfd60192ef1c6b189a444f79c2971ffce3e1062840b"
ROOT = "5ff987b22cbc329e4d330e51ef3da31c7e5f8d46057de8a19c3ce78a7abd4983"
