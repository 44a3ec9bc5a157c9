"""Helpers shared by integration and end-to-end tests: processes, Kafka reading."""
