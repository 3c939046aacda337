"""The ``race`` command: node commands from abci_app.cli plus the governance, sidecar and
gateway groups.

The governance (``gov``, ``price``, ``models``), sidecar and gateway groups are imported
lazily and only when present, so ``race --help`` and the node commands work on any install,
including one without the sidecar's dependencies.
"""

from __future__ import annotations

import importlib
import sys

import typer

from abci_app.cli import register_node_commands

# (group name, module, attribute, what it is for)
OPTIONAL_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("gov", "governance.gov_cli", "app", "governance proposals, deposits and votes"),
    ("price", "governance.price_cli", "app", "price votes"),
    ("models", "governance.models_cli", "app", "the model registry"),
    ("sidecar", "gpu_sidecar.cli", "app", "the GPU sidecar"),
    ("gateway", "abci_app.gateway.cli", "app", "REST and gRPC gateways"),
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
register_node_commands(app)


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
