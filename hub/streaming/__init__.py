"""Kafka's side: the Faust worker by role, its batch handlers, the relay and the watchdogs."""
