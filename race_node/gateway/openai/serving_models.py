"""``GET /v1/models``: the active registry models with at least one weighted provider, in
OpenAI's list shape, each with what a token of it costs now (``race`` extension fields)."""

from __future__ import annotations

from typing import Any

from race_node.gateway.openai.serving_base import SERVER_ERROR, OpenAIError
from race_node.inference.view import ChainUnavailable, ChainView


class ServingModels:
    def __init__(self, view: ChainView) -> None:
        self.view = view

    async def list(self) -> dict[str, Any]:
        try:
            models = await self.view.models()
        except ChainUnavailable as away:
            raise OpenAIError(503, f"the gateway cannot reach its node: {away}",
                              type=SERVER_ERROR, headers={"Retry-After": "1"}) from away
        return {"object": "list", "data": [{
            "id": m.id, "object": "model", "created": 0, "owned_by": "race-network",
            "max_context": int(m.max_context), "providers": int(m.providers),
            "price_per_token_nicoin": m.price_per_token_nicoin,
        } for m in models]}
