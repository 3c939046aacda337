"""Fixtures for the pricing, models and gov tests."""
