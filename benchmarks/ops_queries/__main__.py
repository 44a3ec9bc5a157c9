"""`python -m benchmarks.ops_queries`: see benchmarks/ops_queries/cli.py."""

from benchmarks.ops_queries.cli import main

raise SystemExit(main())
