"""Codes for refusals of the tx envelope (range 20-39; docs/modules.md §7)."""

from race_protocol.errors import ChainError, ErrorCode

TX_TOO_LARGE = ErrorCode("tx", 20, "tx too large")
TX_UNDECODABLE = ErrorCode("tx", 21, "tx is not a race.v1.Tx")
TX_NON_CANONICAL = ErrorCode("tx", 22, "tx encoding is not canonical")
BODY_UNDECODABLE = ErrorCode("tx", 23, "tx body is not a race.v1.TxBody")
WRONG_CHAIN_ID = ErrorCode("tx", 24, "wrong chain id")
BAD_PUBLIC_KEY = ErrorCode("tx", 25, "bad signer public key")
BAD_SIGNATURE = ErrorCode("tx", 26, "signature does not verify")
NO_MESSAGES = ErrorCode("tx", 27, "tx has no messages")
TOO_MANY_MESSAGES = ErrorCode("tx", 28, "too many messages")
UNKNOWN_MESSAGE_TYPE = ErrorCode("tx", 29, "unknown message type")
MESSAGE_UNDECODABLE = ErrorCode("tx", 30, "message does not decode")
MEMO_TOO_LONG = ErrorCode("tx", 31, "memo too long")
FEE_OUT_OF_RANGE = ErrorCode("tx", 32, "fee out of range")
SEQUENCE_OUT_OF_RANGE = ErrorCode("tx", 33, "sequence out of range")

TxError = ChainError

__all__ = [
    "BAD_PUBLIC_KEY",
    "BAD_SIGNATURE",
    "BODY_UNDECODABLE",
    "FEE_OUT_OF_RANGE",
    "MEMO_TOO_LONG",
    "MESSAGE_UNDECODABLE",
    "NO_MESSAGES",
    "SEQUENCE_OUT_OF_RANGE",
    "TOO_MANY_MESSAGES",
    "TX_NON_CANONICAL",
    "TX_TOO_LARGE",
    "TX_UNDECODABLE",
    "TxError",
    "UNKNOWN_MESSAGE_TYPE",
    "WRONG_CHAIN_ID",
]
