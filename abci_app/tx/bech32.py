"""Bech32 (BIP-173) encoding of account addresses: prefix, checksum, no mixed case."""

from __future__ import annotations

from functools import lru_cache

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


def _step(checksum: int, value: int) -> int:
    return ((checksum & 0x1FFFFFF) << 5 ^ value) ^ _MIX[checksum >> 25]


# Two polymod steps at once: the step is linear over GF(2), so two steps from state c
# with words a, b equal (c's low 20 bits << 10) ^ (a << 5) ^ b ^ _MIX2[c >> 20].
_MIX2 = tuple(_step(_step(top << 20, 0), 0) for top in range(1024))


def _polymod(values: list[int], checksum: int = 1) -> int:
    mix2 = _MIX2
    odd = len(values) & 1
    for i in range(0, len(values) - odd, 2):
        checksum = ((checksum & 0xFFFFF) << 10 ^ values[i] << 5 ^ values[i + 1]) ^ mix2[
            checksum >> 20
        ]
    if odd:
        checksum = _step(checksum, values[-1])
    return checksum


@lru_cache(maxsize=16)
def _prefix_state(prefix: str) -> int:
    """The polymod state after the expanded prefix (the same for every address)."""
    return _polymod(_expand_prefix(prefix))


def _expand_prefix(prefix: str) -> list[int]:
    return [ord(c) >> 5 for c in prefix] + [0] + [ord(c) & 31 for c in prefix]


def _bytes_to_words(data: bytes) -> list[int]:
    """8-bit groups to 5-bit groups, zero-padded at the end (BIP-173 convertbits, pad=True)."""
    total_bits = 8 * len(data)
    pad = -total_bits % 5
    number = int.from_bytes(data, "big") << pad
    count = (total_bits + pad) // 5
    return [(number >> (5 * (count - 1 - i))) & 31 for i in range(count)]


def _words_to_bytes(words: list[int]) -> bytes:
    """5-bit groups back to bytes; the padding must be under 5 bits and all zero."""
    number = 0
    for word in words:
        number = number << 5 | word
    total_bits = 5 * len(words)
    pad = total_bits % 8
    if pad >= 5 or number & ((1 << pad) - 1):
        raise Bech32Error("non-zero padding in the data part")
    return (number >> pad).to_bytes(total_bits // 8, "big")


# Two 5-bit words (a 10-bit chunk) -> their two characters.
_PAIR_TEXT = tuple(CHARSET[chunk >> 5] + CHARSET[chunk & 31] for chunk in range(1024))


def encode(prefix: str, data: bytes) -> str:
    """Encode ``data`` under ``prefix`` (lower case)."""
    total_bits = 8 * len(data)
    pad = -total_bits % 5
    count = (total_bits + pad) // 5
    if count % 2:
        words = _bytes_to_words(data)
        polymod = _polymod([*words, 0, 0, 0, 0, 0, 0], _prefix_state(prefix)) ^ 1
        checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
        return prefix + "1" + "".join(CHARSET[w] for w in words + checksum)
    # An even number of words (20-byte addresses: 32): walk 10-bit chunks, two words
    # per polymod step and per table lookup for the text.
    number = int.from_bytes(data, "big") << pad
    half = count // 2
    chunks = [(number >> (10 * (half - 1 - i))) & 1023 for i in range(half)]
    state = _prefix_state(prefix)
    mix2 = _MIX2
    for chunk in chunks:
        state = ((state & 0xFFFFF) << 10 ^ chunk) ^ mix2[state >> 20]
    for _ in range(3):  # the six zero words the checksum is computed over
        state = ((state & 0xFFFFF) << 10) ^ mix2[state >> 20]
    state ^= 1
    pair = _PAIR_TEXT
    return (prefix + "1" + "".join([pair[chunk] for chunk in chunks])
            + pair[state >> 20] + pair[(state >> 10) & 1023] + pair[state & 1023])


def decode(text: str) -> tuple[str, bytes]:
    """Split a bech32 string into its prefix and data bytes, checking the checksum."""
    if not isinstance(text, str):
        raise Bech32Error("address must be text")
    if len(text) > MAX_LENGTH:
        raise Bech32Error(f"longer than {MAX_LENGTH} characters")
    if not (text.isascii() and text.isprintable()) or " " in text:
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
    if _polymod(words, _prefix_state(prefix)) != 1:
        raise Bech32Error("checksum mismatch (a typo?)")
    return prefix, _words_to_bytes(words[:-6])
