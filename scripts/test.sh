#!/usr/bin/env bash
# Installs everything the tests need and runs the whole suite:
#   - the Python package with its dev extra (pyproject.toml)
#   - PostgreSQL from Debian's packages (infra/postgres.sh install)
#   - the Apache Kafka broker jars from Maven Central (infra/kafka.sh fetch, via infra/kafka/pom.xml)
#   - Chromium from Debian's packages, for the console's browser tests (infra/chromium.sh install)
# The test harness starts the broker and the database itself when a test needs them, and stops
# the broker it started. With no arguments it first runs ruff and mypy; extra arguments go to
# pytest alone, e.g. `scripts/test.sh tests/unit -q`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev]"
bash infra/postgres.sh install
bash infra/kafka.sh fetch
bash infra/chromium.sh install >/dev/null

if [[ $# -eq 0 ]]; then
  # The whole suite starts with the code's own checks: lint, format, types.
  python3 -m ruff check .
  python3 -m ruff format --check .
  python3 -m mypy hub aggregates schemas projections connectors orchestration_policies benchmarks
fi
exec python3 -m pytest "$@"
