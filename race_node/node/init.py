"""Create node homes: CometBFT's keys and config, the chain's genesis, and a funded account key.

Used by ``race init`` (one node) and by the localnet (N validators sharing one genesis).
CometBFT generates its own node and validator keys (``cometbft init``); we then write the
genesis (validators, chain id, the app's ``app_state``) and tune ``config.toml``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abci_app.genesis import build_app_state
from race_node.client.keyring import Keyring
from race_node.node.cometbft_config import set_config_values
from race_node.node.genesis_params import check_genesis_params
from race_node.node.home import NodeConfigError, NodeHome, find_cometbft

DEFAULT_VALIDATOR_POWER = 10


@dataclass(frozen=True)
class ConsensusTimings:
    """CometBFT's consensus timeouts (Go duration strings) and empty-block policy."""

    timeout_propose: str = "1s"
    timeout_prevote: str = "500ms"
    timeout_precommit: str = "500ms"
    timeout_commit: str = "1s"
    create_empty_blocks: bool = True
    create_empty_blocks_interval: str = "0s"

    def config_values(self) -> dict[str, Any]:
        return {
            "timeout_propose": self.timeout_propose,
            "timeout_propose_delta": "100ms",
            "timeout_prevote": self.timeout_prevote,
            "timeout_prevote_delta": "100ms",
            "timeout_precommit": self.timeout_precommit,
            "timeout_precommit_delta": "100ms",
            "timeout_commit": self.timeout_commit,
            "create_empty_blocks": self.create_empty_blocks,
            "create_empty_blocks_interval": self.create_empty_blocks_interval,
        }


@dataclass(frozen=True)
class GenesisValidator:
    """A genesis validator as CometBFT's genesis.json lists it."""

    name: str
    cometbft_address: str
    pub_key_b64: str
    power: int = DEFAULT_VALIDATOR_POWER

    def as_genesis_entry(self) -> dict[str, Any]:
        return {
            "address": self.cometbft_address,
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": self.pub_key_b64},
            "power": str(self.power),
            "name": self.name,
        }


def cometbft_init(home: NodeHome) -> None:
    """``cometbft init``: node key, validator key and a default config.toml."""
    result = subprocess.run(
        [str(find_cometbft()), "init", "--home", str(home.root)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise NodeConfigError(f"cometbft init failed for {home.root}:\n{result.stderr.strip()}")


def node_id(home: NodeHome) -> str:
    """The p2p node id (hex of the first 20 bytes of SHA-256 of the node's public key)."""
    result = subprocess.run(
        [str(find_cometbft()), "show-node-id", "--home", str(home.root)],
        capture_output=True, text=True, check=True,
    )
    return result.stdout.strip()


def genesis_validator(home: NodeHome, name: str,
                      power: int = DEFAULT_VALIDATOR_POWER) -> GenesisValidator:
    key = json.loads(home.priv_validator_key.read_text())
    return GenesisValidator(name=name, cometbft_address=key["address"],
                            pub_key_b64=key["pub_key"]["value"], power=power)


def build_genesis(chain_id: str, validators: list[GenesisValidator],
                  balances: dict[str, int], operators: dict[str, str],
                  consensus_params: dict[str, Any],
                  params: dict[str, dict[str, Any]] | None = None,
                  sections: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """genesis.json: CometBFT's fields plus the app's ``app_state`` (abci_app.genesis).

    ``params``: module -> {key: value} overrides of the modules' default params.
    ``sections``: module -> more genesis entries (e.g. models registered from genesis).
    """
    app_state = build_app_state(balances, params=params, operators=operators)
    for module, section in (sections or {}).items():
        app_state.setdefault(module, {}).update(section)
    return {
        "genesis_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "chain_id": chain_id,
        "initial_height": "1",
        "consensus_params": consensus_params,
        "validators": [v.as_genesis_entry() for v in validators],
        "app_hash": "",
        "app_state": app_state,
    }


def write_genesis(home: NodeHome, genesis: dict[str, Any]) -> None:
    home.genesis.write_text(json.dumps(genesis, indent=2) + "\n")


def default_consensus_params(home: NodeHome) -> dict[str, Any]:
    """The consensus params ``cometbft init`` wrote (block size, evidence, key types)."""
    return json.loads(home.genesis.read_text())["consensus_params"]


def operator_key(validator: GenesisValidator) -> str:
    """How app_state.staking.operators names a validator: its ed25519 public key in hex."""
    return base64.b64decode(validator.pub_key_b64).hex()


def configure_node(home: NodeHome, *, moniker: str, rpc_port: int, p2p_port: int,
                   app_address: str, timings: ConsensusTimings,
                   persistent_peers: str = "", p2p_host: str = "127.0.0.1",
                   extra: dict[str, dict[str, Any]] | None = None) -> None:
    """Write our settings into the node's config.toml (loopback by default)."""
    values: dict[str, dict[str, Any]] = {
        "": {"moniker": moniker, "proxy_app": app_address, "log_level": "info"},
        "rpc": {"laddr": f"tcp://127.0.0.1:{rpc_port}", "pprof_laddr": ""},
        "p2p": {
            "laddr": f"tcp://{p2p_host}:{p2p_port}",
            "persistent_peers": persistent_peers,
            "addr_book_strict": False,
            "allow_duplicate_ip": True,
        },
        "consensus": timings.config_values(),
        "instrumentation": {"prometheus": False},
    }
    for section, settings in (extra or {}).items():
        values.setdefault(section, {}).update(settings)
    set_config_values(home.config_toml, values)


def prepare_home_dir(root: Path, overwrite: bool) -> NodeHome:
    home = NodeHome(root)
    if home.is_initialized() or (root / "data").exists():
        if not overwrite:
            raise NodeConfigError(f"{root} already holds a node; pass --overwrite to "
                                  "delete its chain data and keys and start over")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    return home


def init_single_node(root: Path, *, chain_id: str, moniker: str, key_name: str,
                     genesis_balance_nicoin: int, rpc_port: int = 26657,
                     p2p_port: int = 26656, app_address: str | None = None,
                     timings: ConsensusTimings | None = None,
                     overwrite: bool = False,
                     params: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A one-validator chain in ``root`` whose account ``key_name`` holds the genesis balance.

    ``params`` (module -> {key: value}) are checked before anything is written.
    """
    params = check_genesis_params(params)
    home = prepare_home_dir(root, overwrite)
    cometbft_init(home)
    account = Keyring(home.keyring_dir).add(key_name)
    validator = genesis_validator(home, moniker)
    genesis = build_genesis(chain_id, [validator], {account.address: genesis_balance_nicoin},
                            {operator_key(validator): account.address},
                            default_consensus_params(home), params=params)
    write_genesis(home, genesis)
    configure_node(home, moniker=moniker, rpc_port=rpc_port, p2p_port=p2p_port,
                   app_address=app_address or home.default_app_address(),
                   timings=timings or ConsensusTimings())
    return {
        "home": str(home.root),
        "chain_id": chain_id,
        "moniker": moniker,
        "node_id": node_id(home),
        "rpc": home.rpc_url(),
        "app_address": home.app_address(),
        "key": account.as_dict(),
        "genesis_balance_nicoin": genesis_balance_nicoin,
        "params": params,
    }
