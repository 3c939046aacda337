"""The ABCI app, killed with SIGKILL just before it commits a chosen height.

``python -m tests.faults.crashing_app --crash-before-commit-height N --home H ...``
serves the real :class:`~abci_app.app.RaceApp` through the real entry point; only Commit
at height N is replaced by a SIGKILL, as a power cut between FinalizeBlock and Commit
would do (DESIGN.md §3: after a crash the app replays to the same hash).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from abci_app.abci.__main__ import main
from abci_app.app import RaceApp
from race_protocol.gen.tendermint.abci import types_pb2 as abci


def crashing_app_type(crash_height: int) -> type[RaceApp]:
    """A RaceApp whose Commit of ``crash_height`` kills the process instead."""

    class CrashingApp(RaceApp):
        def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
            if self.pending is not None and self.pending.height == crash_height:
                logging.getLogger("race.app").warning(
                    "fault injection: killing the app before Commit of %d", crash_height)
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)
            return super().commit(req)

    return CrashingApp


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--crash-before-commit-height", type=int, required=True)
    known, rest = parser.parse_known_args()
    sys.exit(main(rest, app_type=crashing_app_type(known.crash_before_commit_height)))
