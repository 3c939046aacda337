"""Inference through the network, the node software's side: the chain view a relay and an
executor read (API keys, a model's providers and the beacon output, relays), cached per
block, and the ticket helpers both sides use (docs/inference.md)."""
