"""The Race's work-function parameters, seed derivations and integer validation rules
(whitepaper Appendix A), shared by the chain, the agent and the sidecar."""
