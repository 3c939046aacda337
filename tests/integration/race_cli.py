"""Helpers for running the `race` CLI in-process and picking free ports."""

from __future__ import annotations

import json
import random
import socket

from typer.testing import CliRunner


def free_port_pair() -> tuple[int, int]:
    """Two ports the OS considers free right now (p2p, rpc)."""
    sockets = [socket.socket() for _ in range(2)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return sockets[0].getsockname()[1], sockets[1].getsockname()[1]
    finally:
        for s in sockets:
            s.close()


def race(cli: CliRunner, *args: str) -> tuple[int, str]:
    """Run ``race ARGS`` in-process; return (exit code, stdout)."""
    from governance.main import app

    result = cli.invoke(app, list(args))
    return result.exit_code, result.stdout


def race_json(cli: CliRunner, *args: str) -> dict:
    code, out = race(cli, *args, "--output", "json")
    assert code == 0, out
    return json.loads(out)


def free_port_block(size: int) -> int:
    """A base port with ``size`` consecutive ports free right now."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - size)
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")
