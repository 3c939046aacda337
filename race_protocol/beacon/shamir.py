"""Shamir sharing over the scalar field Z/L: polynomial evaluation and Lagrange
interpolation at zero, every field operation a libsodium scalar call.

A dealer's polynomial ``f`` of degree ``t-1`` has ``f(0) = s``; share ``i`` (``i >= 1``) is
``f(i)``. Any ``t`` shares determine ``s``; ``t-1`` shares are consistent with every value of
``s`` (for any candidate there is exactly one polynomial through it and the shares), so they
say nothing about it. Recovery interpolates in the exponent: ``σ = Σ λ_i·S_i`` with
``S_i = f(i)·H`` gives ``f(0)·H``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from race_protocol.beacon.group import (
    ONE,
    ZERO,
    BeaconCryptoError,
    s_add,
    s_inv,
    s_mul,
    s_sub,
    scalar_of_int,
)


def evaluate(coefficients: Sequence[bytes], x: int) -> bytes:
    """``f(x)`` for ``f = Σ coefficients[j]·x^j`` (Horner's rule)."""
    point = scalar_of_int(x)
    value = ZERO
    for coefficient in reversed(coefficients):
        value = s_add(s_mul(value, point), coefficient)
    return value


def lagrange_at_zero(indices: Iterable[int]) -> dict[int, bytes]:
    """``λ_i = Π_{j≠i} j / (j - i)`` for each share index: ``f(0) = Σ λ_i·f(i)``.

    Indices must be distinct and positive.
    """
    points = sorted(set(indices))
    if not points or points[0] < 1:
        raise BeaconCryptoError("share indices must be positive")
    coefficients: dict[int, bytes] = {}
    for i in points:
        numerator, denominator = ONE, ONE
        scalar_i = scalar_of_int(i)
        for j in points:
            if j != i:
                scalar_j = scalar_of_int(j)
                numerator = s_mul(numerator, scalar_j)
                denominator = s_mul(denominator, s_sub(scalar_j, scalar_i))
        coefficients[i] = s_mul(numerator, s_inv(denominator))
    return coefficients


def interpolate_at_zero(shares: dict[int, bytes]) -> bytes:
    """``f(0)`` from the scalar shares ``{i: f(i)}`` (exact when there are at least as many
    as the degree plus one)."""
    value = ZERO
    for i, coefficient in lagrange_at_zero(shares).items():
        value = s_add(value, s_mul(coefficient, shares[i]))
    return value
