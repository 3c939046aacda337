"""Fault injection for tests, kept out of the production code path."""
