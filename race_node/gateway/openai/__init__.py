"""The OpenAI-compatible API of the gateway: ``/v1/chat/completions``, ``/v1/completions``
and ``/v1/models``, served by relaying each request to an executor drawn from the network
(DESIGN.md 7; docs/inference.md, "Inference through the network").

The split follows vLLM's ``entrypoints/openai``: :mod:`.protocol` holds the wire types,
:mod:`.serving_base` the errors, :mod:`.serving_chat`, :mod:`.serving_completion` and
:mod:`.serving_models` the handlers, :mod:`.relay` the relay itself, and :mod:`.api` the
FastAPI wiring (mounted in ``race gateway serve``)."""
