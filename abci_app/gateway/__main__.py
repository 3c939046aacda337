"""``python -m abci_app.gateway serve ...``: the gateway without the ``race`` entry point."""

from abci_app.gateway.cli import app

if __name__ == "__main__":
    app()
