"""The ``race`` command line: governance, price votes and model queries, with the node commands."""
