"""The executor side of inference (DESIGN.md 7.3-7.4): the endpoint relays call, the
transcript store, the serve-model duty and batched settlement."""
