"""``race race`` and ``race provider``: Race cycles, their results, and open entry for
providers (whitepaper section 4 and Appendix A; docs/race.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from governance.common import (
    FeeOption,
    FromOption,
    LimitOption,
    TimeoutOption,
    WaitOption,
    as_json,
    command_errors,
    limited,
    query,
    sign_and_send,
)
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    print_json,
    rows_table,
    user_errors,
)
from race_node.client.rpc import CometRPC
from race_node.node.home import NodeConfigError, NodeHome
from race_node.node.init import node_id
from race_protocol.gen.race.v1 import query_pb2, race_pb2

app = typer.Typer(
    help="The Race: cycles in which providers prove compute; accepted counts become "
         "validator power.\n\n"
         "Examples:\n\n"
         "  race race status\n\n"
         "  race race results --cycle 12 --output json",
    no_args_is_help=True,
)
provider_app = typer.Typer(
    help="Providers: register a node to race (open entry), list the registered ones.\n\n"
         "Examples:\n\n"
         "  race provider register --home ~/.race --from validator\n\n"
         "  race provider list",
    no_args_is_help=True,
)

PPM = 1_000_000


def _short(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower().replace("_", " ")


def _percent(ppm: str | int) -> str:
    return f"{int(ppm) / PPM * 100:.1f}%"


def _window(start: str, end: str) -> str:
    return f"blocks {start}-{end}" if int(end) else "not scheduled yet"


@app.command("status")
def status(
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """The cycle in progress: what it is doing, its window and deadline in blocks.

    Examples:

      race race status

      race race status --output json
    """
    with command_errors(output):
        document = as_json(query(home, node, "RaceStatus"))
    if output is OutputFormat.json:
        print_json(document)
        return
    cycle = document["cycle"]
    console.print(key_value_table(f"race cycle {cycle['cycle']}", [
        ("height", document["height"]),
        ("status", _short(cycle["status"], "RACE_CYCLE_STATUS_")),
        ("now", document["phase"]),
        ("window", _window(document["window_start_height"], document["window_end_height"])),
        ("deadline", f"block {document['window_end_height']} "
                     f"({document['blocks_left']} blocks left)"
         if int(document["window_end_height"]) else "-"),
        ("race window", _window(cycle["race_start_height"], cycle["race_end_height"])),
        ("commit deadline", f"block {cycle['commit_end_height']}"
         if int(cycle["commit_end_height"]) else "-"),
        ("opening deadline", f"block {cycle['open_end_height']}"
         if int(cycle["open_end_height"]) else "-"),
        ("boundary (new power)", f"block {cycle['validation_end_height']}"
         if int(cycle["validation_end_height"]) else "-"),
        ("race seed", f"{cycle['race_seed'] or '-'} (beacon round {cycle['seed_round']})"),
        ("committed / opened", f"{cycle['committed']} / {cycle['opened']}"),
    ]))


@app.command("results")
def results(
    cycle: Annotated[int, typer.Option(
        "--cycle", min=0, help="the cycle; 0 (default): the cycle in progress")] = 0,
    limit: LimitOption = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Per node of a cycle: claimed count, attested share, accepted or not, new power.

    The chain answers a page at a time: this reads every page (or the first --limit
    entries) into one list, the same JSON document as a single page; stderr says when
    entries remain.

    Examples:

      race race results

      race race results --cycle 12 --output json
    """
    with command_errors(output):
        document = as_json(query(home, node, "RaceResults",
                                 query_pb2.QueryRaceResultsRequest(cycle=cycle),
                                 **limited(limit)))
    if output is OutputFormat.json:
        print_json(document)
        return
    entry = document["cycle"]
    console.print(key_value_table(f"race cycle {entry['cycle']}", [
        ("status", _short(entry["status"], "RACE_CYCLE_STATUS_")),
        ("outcome", _short(entry["outcome"], "RACE_CYCLE_OUTCOME_")),
        ("committed / opened / accepted / caught",
         f"{entry['committed']} / {entry['opened']} / {entry['accepted']} / "
         f"{entry['caught']}"),
        ("attesting weight", f"{entry['attesting_weight']} of {entry['total_weight']}"),
    ]))
    console.print(rows_table(
        "nodes", ["operator", "claimed", "attested", "accepted", "new power"],
        [(e["operator"], e["count"], _percent(e["attested_share_ppm"]),
          "yes" if e["status"] == "RACE_ENTRY_STATUS_ACCEPTED"
          else f"no ({_short(e['status'], 'RACE_ENTRY_STATUS_')})", e["new_power"])
         for e in document["entries"]]))
    for e in document["entries"]:
        if e["reason"]:
            console.print(f"{e['operator']}: {e['reason']}")


# --- providers -----------------------------------------------------------------------------

def consensus_key_of(home: Path, given: str | None) -> bytes:
    """The provider's consensus key: ``given`` as hex or as a priv_validator_key.json path,
    else the home's own ``config/priv_validator_key.json``."""
    if given is not None and not Path(given).exists():
        try:
            key = bytes.fromhex(given)
        except ValueError:
            raise CommandError(f"--consensus-key {given!r} is neither hex nor a file") from None
        if len(key) != 32:
            raise CommandError(f"--consensus-key is {len(key)} bytes; ed25519 keys are 32")
        return key
    path = Path(given) if given is not None else NodeHome(home).priv_validator_key
    try:
        document = json.loads(path.read_text())
        return base64.b64decode(document["pub_key"]["value"])
    except (OSError, ValueError, KeyError) as exc:
        raise CommandError(f"cannot read the consensus key from {path}: {exc}; initialise the "
                           "node (race init) or pass --consensus-key") from exc


def default_sidecar_identity(home: Path) -> str:
    """An identity for the node's sidecar: the SHA-256 fingerprint of its TLS certificate
    when the home has one (``sidecar/tls.crt``), else the node's p2p id (both public, and
    no two homes share one)."""
    node_home = NodeHome(home)
    certificate = node_home.sidecar_dir / "tls.crt"
    try:
        if certificate.is_file():
            return "sha256:" + hashlib.sha256(certificate.read_bytes()).hexdigest()
        return f"node:{node_id(node_home)}"
    except (OSError, subprocess.CalledProcessError, NodeConfigError) as exc:
        raise CommandError(f"cannot derive a sidecar identity from {home}: {exc}; pass "
                           "--sidecar-identity") from exc


@provider_app.command("register")
def register(
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    from_key: FromOption = "validator",
    consensus_key: Annotated[str | None, typer.Option(
        help="the node's ed25519 consensus key: hex, or a priv_validator_key.json; default: "
             "HOME/config/priv_validator_key.json")] = None,
    sidecar_identity: Annotated[str | None, typer.Option(
        help="what identifies the sidecar this provider races on (e.g. sha256:<TLS "
             "certificate fingerprint>); default: derived from the home")] = None,
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Register this node as a provider: it races from the next cycle, and an accepted
    count makes its consensus key a validator at that cycle's boundary.

    The signer (--from) is the operator account: it signs the provider's Race txs.

    Examples:

      race provider register --home ~/.race --from validator

      race provider register --consensus-key 3f2a... --sidecar-identity sha256:9c1e...
    """
    with user_errors(output):
        key = consensus_key_of(home, consensus_key)
        identity = sidecar_identity or default_sidecar_identity(home)

    def build(signer: str, rpc: CometRPC) -> list[race_pb2.MsgRegisterProvider]:
        return [race_pb2.MsgRegisterProvider(operator=signer, consensus_pub_key=key,
                                             sidecar_identity=identity)]

    with command_errors(output):
        sign_and_send(home=home, node=node, from_key=from_key, build=build, fee=fee,
                      wait=wait, timeout=timeout, output=output,
                      summary={"consensus_pub_key": key.hex(), "sidecar_identity": identity},
                      report_events=(("race_provider", "first_cycle", "first_cycle"),))


@provider_app.command("list")
def list_providers(
    limit: LimitOption = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """The registered providers: operator, consensus key, sidecar, first cycle, power.

    The chain answers a page at a time: this reads every page (or the first --limit
    entries) into one list, the same JSON document as a single page; stderr says when
    entries remain.

    Examples:

      race provider list

      race provider list --output json
    """
    with command_errors(output):
        document: dict[str, Any] = as_json(query(home, node, "RaceProviders",
                                                 **limited(limit)))
    if output is OutputFormat.json:
        print_json(document)
        return
    console.print(rows_table(
        "providers", ["operator", "consensus key", "sidecar", "first cycle", "power"],
        [(p["operator"], p["consensus_pub_key"][:16] + "...", p["sidecar_identity"] or "-",
          p["first_cycle"], p["power"]) for p in document["providers"]]))
