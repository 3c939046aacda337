"""Run the Race ABCI application: ``python -m abci_app.abci --home DIR --address unix:///...``.

State lives in ``DIR/app/app.db`` (snapshots in ``DIR/app/snapshots``). The chain id
comes from the node's own ``DIR/config/genesis.json``: a node joining by state sync checks
peers' snapshots against it. SIGTERM or SIGINT stops accepting requests, lets the current
one finish, closes the database and removes the unix socket. Logs go to stderr and never
contain keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from abci_app.abci.server import DEFAULT_MAX_MESSAGE_BYTES, parse_address, serve
from abci_app.app import RaceApp


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m abci_app.abci",
        description="Serve the Race network's ABCI 2.0 application to CometBFT.",
    )
    parser.add_argument("--home", required=True, type=Path,
                        help="node home; state goes to HOME/app/app.db")
    parser.add_argument("--address", default=None,
                        help="unix:///path/app.sock (default HOME/app.sock) or tcp://127.0.0.1:PORT")
    parser.add_argument("--snapshot-interval", type=int, default=0,
                        help="take a state-sync snapshot every N heights (0: never)")
    parser.add_argument("--snapshot-keep", type=int, default=2,
                        help="how many recent snapshots to keep")
    parser.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                        help="largest ABCI message accepted")
    parser.add_argument("--log-level", default=os.environ.get("RACE_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def genesis_chain_id(home: Path) -> str:
    """The chain id in ``HOME/config/genesis.json`` (CometBFT's genesis), or "" without one."""
    path = home / "config" / "genesis.json"
    try:
        chain_id = json.loads(path.read_bytes()).get("chain_id")
    except (OSError, ValueError, AttributeError):
        return ""
    return chain_id if isinstance(chain_id, str) else ""


def main(argv: list[str] | None = None, app_type: type[RaceApp] = RaceApp) -> int:
    """Serve ``app_type`` (the RaceApp; tests pass a subclass that injects faults)."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("race.app")
    address = args.address or f"unix://{args.home.resolve() / 'app.sock'}"
    try:
        parse_address(address)
    except ValueError as bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    state_dir = args.home / "app"
    state_dir.mkdir(parents=True, exist_ok=True)

    chain_id = genesis_chain_id(args.home)
    if not chain_id:
        log.warning("no chain id in %s: state sync is refused",
                    args.home / "config" / "genesis.json")
    try:
        app = app_type(
            state_dir / "app.db",
            snapshot_dir=state_dir / "snapshots",
            snapshot_interval=args.snapshot_interval,
            snapshot_keep=args.snapshot_keep,
            genesis_chain_id=chain_id,
        )
    except ValueError as bad:
        log.error("cannot start: %s", bad)
        return 1
    log.info("state %s at height %d", state_dir / "app.db", app.committed.height)

    def halt(reason: str) -> None:
        # A consensus method failed outside any tx: stop rather than answer wrongly.
        log.critical("halting: %s", reason)
        logging.shutdown()
        os._exit(70)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, address, args.max_message_bytes, stop=stop, on_fatal=halt)

    try:
        asyncio.run(run())
    except OSError as bad:
        log.error("cannot serve %s: %s", address, bad)
        return 1
    finally:
        app.close()
        log.info("stopped at height %d", app.committed.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
