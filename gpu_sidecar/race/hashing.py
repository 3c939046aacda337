"""The counter-based integer hash behind every random number of the Race.

Whitepaper Appendix A requires the model to be "initialized with the Race Seed" identically
on every device. Floating-point RNGs differ between libraries, versions and devices, so the
Race draws nothing from them: the i-th number of a stream is ``hash32(i, key)``, computed
with integer operations that numpy and torch (CPU or CUDA) evaluate bit-identically.

All values live in int64 arrays holding unsigned 32-bit numbers. The mixer's multipliers
are below 2**31, so ``x * c < 2**63``: no signed overflow anywhere, hence no reliance on
wrap-around behaviour, and ``(x * c) & 0xFFFFFFFF`` is the exact uint32 product. The
functions take numpy arrays or torch tensors alike: they only use ``^ & >> * +``.
"""

from __future__ import annotations

from typing import Any, TypeVar

MASK32 = 0xFFFFFFFF
# The "lowbias32" xorshift-multiply mixer constants (both odd and below 2**31).
_MUL_A = 0x21F0AAAD
_MUL_B = 0x735A2D97
_COUNTER_STEP = 0x4F1BBCDD  # odd, below 2**31: counter * step is a bijection mod 2**32

Array = TypeVar("Array", bound=Any)


def mul32(x: Array, constant: int) -> Array:
    """(x * constant) mod 2**32 for x in [0, 2**32) and constant in [0, 2**31)."""
    if not 0 <= constant < 1 << 31:
        raise ValueError("mul32 constants must be below 2**31 to stay clear of int64 overflow")
    return (x * constant) & MASK32


def mix32(x: Array) -> Array:
    """lowbias32: x ^= x>>16; x *= 0x21F0AAAD; x ^= x>>15; x *= 0x735A2D97; x ^= x>>15.

    A bijection on uint32 with full avalanche. Works on a fresh array in place.
    """
    x = x ^ (x >> 16)
    x *= _MUL_A
    x &= MASK32
    x ^= x >> 15
    x *= _MUL_B
    x &= MASK32
    x ^= x >> 15
    return x


def hash32(counter: Array, key: tuple[int, int]) -> Array:
    """Value ``counter`` of the stream with ``key`` (uint32 values held in int64).

    hash32 = mix32(mix32(counter ^ k0) ^ k1)
    """
    k0, k1 = key
    x = mix32(counter ^ k0)
    x ^= k1
    return mix32(x)


def hash32_pair(low: Array, high: Array, counter: Array, key: tuple[int, int]) -> Array:
    """Value ``counter`` of the per-nonce stream of the 64-bit nonce (``low``, ``high`` words).

    hash32_pair = mix32(mix32(mix32(low ^ k0) ^ high ^ k1) ^ (counter * 0x4F1BBCDD mod 2**32))
    ``low``/``high`` broadcast against ``counter`` (one row per nonce).
    """
    k0, k1 = key
    x = mix32(low ^ k0)
    x ^= high ^ k1
    x = mix32(x)
    return mix32(x ^ ((counter * _COUNTER_STEP) & MASK32))


UNIFORM_BITS = 24


def uniform_mantissa(bits32: Array) -> Array:
    """The top 24 bits, an integer m in [0, 2**24); ``m * 2**-23 - 1`` is exactly in [-1, 1)."""
    return bits32 >> (32 - UNIFORM_BITS)
