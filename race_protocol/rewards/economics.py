"""Parameter sets that express each seed whitepaper's fee economics with the one fee split
(DESIGN.md section 4; docs/rewards.md, "Parameter sets").

Each set is a genesis (or governance) override of two modules' params: the inference
module's fee split (what a developer's payment pays for) and the rewards module's issuance
split (what the coins minted on top of it pay for). Both always sum to 10^6 ppm.

* ``race``: the Race whitepaper (section 6, Appendix K) and the chain's defaults: 20% of
  inference revenue, mining rewards included, to the training fund; the rest to the nodes
  that execute, verify and relay.
* ``decentralgpt``: DecentralGPT's whitepaper (sections 6.2.4 and 7.1): user payments are
  100% destroyed; mining rewards go 70% to the GPU miners and 30% to the model developers.
* ``dllm``: DLLM's whitepaper: "a major percentage [of what the client spends] is
  distributed to the participating GPUs, and the rest are stored in a community address";
  it names no figure, so this set takes 90% and 10%, for fees and issuance alike.
"""

from __future__ import annotations

from typing import Any

PPM = 1_000_000

PARAMETER_SETS: dict[str, dict[str, dict[str, Any]]] = {
    "race": {
        "inference": {"executor_share_ppm": 650_000, "relay_share_ppm": 100_000,
                      "verifier_share_ppm": 50_000, "training_fund_share_ppm": 200_000,
                      "model_owner_share_ppm": 0, "community_pool_share_ppm": 0,
                      "burn_share_ppm": 0},
        "rewards": {"issuance_executor_share_ppm": 750_000,
                    "issuance_verifier_share_ppm": 50_000,
                    "issuance_training_fund_share_ppm": 200_000,
                    "issuance_model_owner_share_ppm": 0,
                    "issuance_community_pool_share_ppm": 0},
    },
    "decentralgpt": {
        "inference": {"executor_share_ppm": 0, "relay_share_ppm": 0,
                      "verifier_share_ppm": 0, "training_fund_share_ppm": 0,
                      "model_owner_share_ppm": 0, "community_pool_share_ppm": 0,
                      "burn_share_ppm": 1_000_000},
        "rewards": {"issuance_executor_share_ppm": 650_000,
                    "issuance_verifier_share_ppm": 50_000,
                    "issuance_training_fund_share_ppm": 0,
                    "issuance_model_owner_share_ppm": 300_000,
                    "issuance_community_pool_share_ppm": 0},
    },
    "dllm": {
        "inference": {"executor_share_ppm": 850_000, "relay_share_ppm": 0,
                      "verifier_share_ppm": 50_000, "training_fund_share_ppm": 0,
                      "model_owner_share_ppm": 0, "community_pool_share_ppm": 100_000,
                      "burn_share_ppm": 0},
        "rewards": {"issuance_executor_share_ppm": 850_000,
                    "issuance_verifier_share_ppm": 50_000,
                    "issuance_training_fund_share_ppm": 0,
                    "issuance_model_owner_share_ppm": 0,
                    "issuance_community_pool_share_ppm": 100_000},
    },
}
