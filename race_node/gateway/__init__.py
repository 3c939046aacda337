"""Gateways to the chain: REST (FastAPI) and gRPC (``race.v1.Query``) over CometBFT RPC."""
