"""The chain's modules, one package each (docs/modules.md). Which are installed, and in
which order, is written in :mod:`abci_app.wiring`."""
