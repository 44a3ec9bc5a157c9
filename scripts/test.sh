#!/usr/bin/env bash
# Installs everything the tests need and runs the whole suite:
#   - a virtual environment of its own (.venv, or $ORDERHUB_VENV) built from the locked
#     dependency set requirements/lock.txt (exact versions and hashes), so what the suite runs
#     on does not depend on what this machine's Python already has; it is rebuilt when the
#     lock changes (scripts/lock.sh regenerates the lock from pyproject.toml)
#   - PostgreSQL from Debian's packages (infra/postgres.sh install)
#   - the Apache Kafka broker jars from Maven Central (infra/kafka.sh fetch, via infra/kafka/pom.xml)
#   - Chromium from Debian's packages, for the console's browser tests (infra/chromium.sh install)
# The test harness starts the broker and the database itself when a test needs them, and stops
# the broker it started. With no arguments it first runs ruff and mypy; extra arguments go to
# pytest alone, e.g. `scripts/test.sh tests/unit -q`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/venv.sh
ensure_venv

bash infra/postgres.sh install
bash infra/kafka.sh fetch
bash infra/chromium.sh install >/dev/null

if [[ $# -eq 0 ]]; then
  # The whole suite starts with the code's own checks: lint, format, types.
  python -m ruff check .
  python -m ruff format --check .
  python -m mypy hub aggregates schemas projections connectors orchestration_policies benchmarks
fi
exec python -m pytest "$@"
