"""Shared test contracts and factories, importable as ``tests.contracts`` (tests/ is a namespace)."""
