"""The ABCI 2.0 socket server and its entry point (``python -m abci_app.abci``)."""
