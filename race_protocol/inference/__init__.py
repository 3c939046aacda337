"""Inference rules shared by the chain, the gateway (the relay) and the agent (the
executor): the ticket format and its signing bytes, the executor draw, and the charge and
its split (whitepaper section 7; DESIGN.md section 7; docs/inference.md)."""
