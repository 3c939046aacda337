"""The Race engine: the transformer proof-of-work of whitepaper Appendix A.

Torch-free modules (the chain side may import them): ``config``, ``seeds``, ``hashing``,
``validation``. ``weights`` and ``inputs`` add numpy. ``torch_weights``, ``model``,
``engine``, ``service`` and ``calibrate`` need torch. The full spec is docs/race.md.
"""
