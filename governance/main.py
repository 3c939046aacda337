"""The ``race`` command: every command group, composed here.

Node commands (``init``, ``start``, ``status``, ``keys``, ``tx``, ``query``,
``localnet``), governance (``gov``, ``price``, ``models``), inference (``apikey``,
``relay``), the node agent, the gateway and the GPU sidecar. The sidecar group is
optional: it is added only where the install has the sidecar, so ``race --help`` and
the node commands work on any install.
"""

from __future__ import annotations

import importlib
import sys

import typer

from governance import (
    agent_cli,
    apikey_cli,
    beacon_cli,
    gateway_cli,
    gov_cli,
    keys_cli,
    localnet_cli,
    models_cli,
    node_cli,
    price_cli,
    query_cli,
    race_cli,
    relay_cli,
    rewards_cli,
    tx_cli,
    verification_cli,
)

# (group name, module, attribute, what it is for): groups an install may lack.
OPTIONAL_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("sidecar", "gpu_sidecar.cli", "app", "the GPU sidecar"),
)

app = typer.Typer(
    name="race",
    help="Race network: run a node or a localnet, manage keys, send and query transactions, "
         "and take part in governance.\n\n"
         "Examples:\n\n"
         "  race localnet init --validators 4 --dir /tmp/net && race localnet start --dir /tmp/net"
         "\n\n"
         "  race keys list --home /tmp/net/node0\n\n"
         "  race tx send race1... 1.5icoin --from validator --home /tmp/net/node0",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("init")(node_cli.init)
app.command("start")(node_cli.start)
app.command("status")(node_cli.status)
app.add_typer(keys_cli.app, name="keys")
app.add_typer(tx_cli.app, name="tx")
app.add_typer(query_cli.app, name="query")
app.add_typer(localnet_cli.app, name="localnet")
app.add_typer(gov_cli.app, name="gov")
app.add_typer(price_cli.app, name="price")
app.add_typer(models_cli.app, name="models")
app.add_typer(gateway_cli.app, name="gateway")
app.add_typer(agent_cli.app, name="agent")
app.add_typer(beacon_cli.app, name="beacon")
app.add_typer(apikey_cli.app, name="apikey")
app.add_typer(relay_cli.app, name="relay")
app.add_typer(race_cli.app, name="race")
app.add_typer(race_cli.provider_app, name="provider")
app.add_typer(rewards_cli.app, name="rewards")
app.command("reputation")(rewards_cli.reputation)
app.command("tokenomics")(rewards_cli.tokenomics)
app.add_typer(verification_cli.inference_app, name="inference")
app.add_typer(verification_cli.app, name="verification")


def _add_optional_groups(root: typer.Typer) -> None:
    for name, module_name, attribute, purpose in OPTIONAL_GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # not part of this install (yet)
            print(f"race: the `{name}` commands ({purpose}) are unavailable: {exc}",
                  file=sys.stderr)
            continue
        except Exception as exc:  # a broken optional group must not take the node CLI down
            print(f"race: the `{name}` commands ({purpose}) are unavailable: {exc}",
                  file=sys.stderr)
            continue
        group = getattr(module, attribute, None)
        if isinstance(group, typer.Typer):
            root.add_typer(group, name=name)


_add_optional_groups(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
