"""The edges: Kafka codec, publishers, the outbox relay, topic administration."""
