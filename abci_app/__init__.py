"""The Race network's ABCI 2.0 application: the deterministic state machine behind CometBFT."""
