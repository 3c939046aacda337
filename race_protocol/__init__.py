"""Rules shared by the chain, the node software and the sidecar: pure, torch-free, I/O-free.

The generated protobuf classes (one copy, ``race_protocol.gen``), the Race's parameters and
seed derivations (``race_protocol.race``), the shape of a chain refusal
(``race_protocol.errors``), and, as they come, commitment and ticket formats.
"""
