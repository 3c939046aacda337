"""Picking a free block of loopback ports for a test localnet."""

from __future__ import annotations

import random
import socket

from race_node.localnet.spec import PORTS_PER_NODE


def free_port_block(validators: int) -> int:
    """A base port whose per-validator ports are all free right now."""
    needed = validators * PORTS_PER_NODE
    for _ in range(200):
        base = random.randrange(20000, 60000 - needed)
        try:
            for port in range(base, base + needed):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports for the localnet")
