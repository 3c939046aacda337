"""Reward rules shared by the chain, the CLI and the simulator: the whitepaper's tokenomics
(Appendices E, F and K) as integer arithmetic (docs/rewards.md)."""
