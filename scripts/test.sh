#!/usr/bin/env bash
# Installs everything the tests need and runs the whole suite:
#   - the Python package with its dev extra (pyproject.toml)
#   - PostgreSQL from Debian's packages (infra/postgres.sh install)
#   - the Apache Kafka broker jars from Maven Central (infra/kafka.sh fetch, via infra/kafka/pom.xml)
# The test harness starts the broker and the database itself when a test needs them, and stops
# the broker it started. Extra arguments go to pytest, e.g. `scripts/test.sh tests/unit -q`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev]"
bash infra/postgres.sh install
bash infra/kafka.sh fetch

exec python3 -m pytest "$@"
