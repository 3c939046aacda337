"""Chain parameters of the inference module (docs/modules.md section 5; docs/inference.md,
"Inference through the network").

Every bound keeps the chain live whatever governance votes: a ticket is valid for at least
one block, a settlement carries at least one ticket, a developer can always create a key
(the smallest budget is at most 1 icoin, the longest expiry at least a block), closings
and pruning make progress every block, and the fee shares always add up to the whole
charge, so a settlement never creates or loses coins.

The fee split is a list of named shares (:data:`FEE_SHARES`): executor, relay, verifier,
training fund, model owner, community pool and burn, so one mechanism expresses every
seed's economics (docs/rewards.md, "Parameter sets"); adding a recipient is a new
``*_share_ppm`` field here and one line there, and changing the split is a params change.
"""

from dataclasses import dataclass

from abci_app.modules.inference.errors import INVALID_PARAMS
from race_protocol.inference.fees import PPM

MAX_VALIDITY_BLOCKS = 100_000
MAX_TICKETS_PER_SETTLEMENT = 10_000
MAX_MODELS_PER_KEY = 256
MAX_KEYS_PER_OWNER = 10_000
MAX_EXPIRY_BLOCKS = 1_000_000_000
MAX_MIN_BUDGET_NICOIN = 10**9
MAX_CLOSINGS_PER_BLOCK = 100_000

# The split's shares in payment order; the first takes the rounding remainder.
# Every share but the relay's is routed by the rewards module
# (abci_app.modules.rewards.distribution): the executor's and the verifiers' are held until
# the cycle's release, the funds and the model owner are paid at once, burn is destroyed.
FEE_SHARES: tuple[tuple[str, str], ...] = (
    ("executor", "executor_share_ppm"),
    ("relay", "relay_share_ppm"),
    ("verifier", "verifier_share_ppm"),
    ("training_fund", "training_fund_share_ppm"),
    ("model_owner", "model_owner_share_ppm"),
    ("community_pool", "community_pool_share_ppm"),
    ("burn", "burn_share_ppm"),
)


@dataclass(frozen=True)
class InferenceParams:
    """``ticket_validity_blocks``: how long after its height a ticket can be settled, and
    how long a revoked or expired key waits before its refund. ``max_tickets_per_settlement``:
    tickets per MsgSettleTickets. ``max_models_per_key``, ``max_keys_per_owner``,
    ``max_key_expiry_blocks``, ``min_key_budget_nicoin``: limits on API keys.
    ``max_closings_per_block``: key refunds and settled-ticket prunings per block.
    ``executor_share_ppm``, ``relay_share_ppm``, ``verifier_share_ppm``,
    ``training_fund_share_ppm`` (whitepaper Appendix K: 20% of inference revenue),
    ``model_owner_share_ppm`` (paid to the model's registry owner),
    ``community_pool_share_ppm``, ``burn_share_ppm``: the fee split, summing to 10^6
    (docs/rewards.md, "The fee split")."""

    ticket_validity_blocks: int = 100
    max_tickets_per_settlement: int = 200
    max_models_per_key: int = 16
    max_keys_per_owner: int = 100
    max_key_expiry_blocks: int = 100_000_000
    min_key_budget_nicoin: int = 1_000
    max_closings_per_block: int = 1_000
    executor_share_ppm: int = 650_000
    relay_share_ppm: int = 100_000
    verifier_share_ppm: int = 50_000
    training_fund_share_ppm: int = 200_000
    model_owner_share_ppm: int = 0
    community_pool_share_ppm: int = 0
    burn_share_ppm: int = 0


def fee_shares(params: InferenceParams) -> list[tuple[str, int]]:
    """The split as ``(recipient kind, ppm)`` in payment order."""
    return [(name, getattr(params, field)) for name, field in FEE_SHARES]


def _bounded(params: InferenceParams, name: str, low: int, high: int) -> None:
    value = getattr(params, name)
    if not low <= value <= high:
        raise INVALID_PARAMS(f"{name} must be between {low} and {high}, got {value}")


def validate(params: InferenceParams) -> None:
    """Every bound in the module docstring; the log names the field and its range."""
    _bounded(params, "ticket_validity_blocks", 1, MAX_VALIDITY_BLOCKS)
    _bounded(params, "max_tickets_per_settlement", 1, MAX_TICKETS_PER_SETTLEMENT)
    _bounded(params, "max_models_per_key", 1, MAX_MODELS_PER_KEY)
    _bounded(params, "max_keys_per_owner", 1, MAX_KEYS_PER_OWNER)
    _bounded(params, "max_key_expiry_blocks", 1, MAX_EXPIRY_BLOCKS)
    _bounded(params, "min_key_budget_nicoin", 1, MAX_MIN_BUDGET_NICOIN)
    _bounded(params, "max_closings_per_block", 1, MAX_CLOSINGS_PER_BLOCK)
    for _, field in FEE_SHARES:
        _bounded(params, field, 0, PPM)
    total = sum(ppm for _, ppm in fee_shares(params))
    if total != PPM:
        raise INVALID_PARAMS(f"the fee shares ({', '.join(f for _, f in FEE_SHARES)}) must "
                             f"sum to {PPM} ppm, got {total}")
