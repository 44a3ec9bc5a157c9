"""The operations console's queries on a million orders in PostgreSQL: see cli.py."""

from benchmarks.ops_queries.cli import main, sample_of
from benchmarks.ops_queries.loading import load
from benchmarks.ops_queries.queries import specs
from benchmarks.ops_queries.report import explain, open_views, run_queries
from benchmarks.ops_queries.world import Sample

__all__ = ["Sample", "explain", "load", "main", "open_views", "run_queries", "sample_of", "specs"]
