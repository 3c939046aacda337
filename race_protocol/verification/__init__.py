"""Verification rules shared by the chain and the agents: the verifier draw from committed
per-epoch seeds, and the bytes a verifier signs to fetch a transcript from an executor
(whitepaper section 6; DESIGN.md section 7.5; docs/verification.md)."""
