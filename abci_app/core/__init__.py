"""The module framework the consensus process is built from: the module contract, the
context handlers see, params, errors, hooks between modules and the tx pipeline."""
