"""Bech32 (BIP-173) encoding of account addresses: prefix, checksum, no mixed case."""

from __future__ import annotations

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
MAX_LENGTH = 90


class Bech32Error(ValueError):
    """The text is not a valid bech32 string (what is wrong is in the message)."""


def _generator_mix(top: int) -> int:
    mixed = 0
    for i in range(5):
        if (top >> i) & 1:
            mixed ^= _GENERATOR[i]
    return mixed


# BIP-173's polymod with the five conditional XORs folded into one table lookup.
_MIX = tuple(_generator_mix(top) for top in range(32))


def _polymod(values: list[int]) -> int:
    checksum = 1
    mix = _MIX
    for value in values:
        checksum = ((checksum & 0x1FFFFFF) << 5 ^ value) ^ mix[checksum >> 25]
    return checksum


def _expand_prefix(prefix: str) -> list[int]:
    return [ord(c) >> 5 for c in prefix] + [0] + [ord(c) & 31 for c in prefix]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    accumulator = 0
    bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & max_value)
    if pad:
        if bits:
            out.append((accumulator << (to_bits - bits)) & max_value)
    elif bits >= from_bits or ((accumulator << (to_bits - bits)) & max_value):
        raise Bech32Error("non-zero padding in the data part")
    return out


def encode(prefix: str, data: bytes) -> str:
    """Encode ``data`` under ``prefix`` (lower case)."""
    words = _convert_bits(data, 8, 5, pad=True)
    values = _expand_prefix(prefix) + words
    polymod = _polymod(values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return prefix + "1" + "".join(CHARSET[w] for w in words + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """Split a bech32 string into its prefix and data bytes, checking the checksum."""
    if not isinstance(text, str):
        raise Bech32Error("address must be text")
    if len(text) > MAX_LENGTH:
        raise Bech32Error(f"longer than {MAX_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise Bech32Error("contains characters outside printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixes upper and lower case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text):
        raise Bech32Error("missing the '1' separator or the 6-character checksum")
    prefix, rest = text[:separator], text[separator + 1 :]
    try:
        words = [_CHARSET_INDEX[c] for c in rest]
    except KeyError as bad:
        raise Bech32Error(f"character {bad.args[0]!r} is not in the bech32 alphabet") from None
    if _polymod(_expand_prefix(prefix) + words) != 1:
        raise Bech32Error("checksum mismatch (a typo?)")
    return prefix, bytes(_convert_bits(words[:-6], 5, 8, pad=False))
