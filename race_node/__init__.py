"""Off-chain software a node operator or developer runs: the client library, the node agent,
the gateway, localnet orchestration and the node runner (DESIGN.md section 2)."""
