"""Embedded mode's transport: in-process delivery and group commit, no services."""
