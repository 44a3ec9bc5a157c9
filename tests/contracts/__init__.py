"""Shared test contracts and factories, importable as ``tests.contracts``."""
