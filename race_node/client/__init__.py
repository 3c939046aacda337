"""Everything that talks to a node: CometBFT JSON-RPC and its event subscription, the
keyring, the one sign-broadcast-wait path, typed chain queries and the sidecar client."""
