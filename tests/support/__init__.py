"""Helpers shared by the tests: a running hub (embedded, or its processes), Kafka reading, fresh
views for the view contracts."""
