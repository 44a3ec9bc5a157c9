"""The fault suite: `python -m benchmarks.faults` (see __main__.py)."""
