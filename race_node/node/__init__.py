"""Running a node: its home directory, CometBFT's config, and the two processes (app + cometbft).

A validator is two processes that live and die together: our ABCI application and the
``cometbft`` binary that drives it over the ABCI socket. This package starts them in the
right order (the app must listen before CometBFT dials it), watches them, and stops them
cleanly (CometBFT first, so it never calls into a stopped app).
"""
