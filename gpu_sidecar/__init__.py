"""GPU sidecar: the Race proof-of-work engine and the vLLM inference engine, one gRPC server."""
