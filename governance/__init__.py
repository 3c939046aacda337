"""The ``race`` command line: governance, price votes and model queries, composed with node commands."""
