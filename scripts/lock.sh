#!/usr/bin/env bash
# Regenerates the exact dependency sets (versions and hashes) from pyproject.toml and
# requirements/build.in:
#   requirements/lock.txt     runtime + dev extra: what the test command's .venv installs
#   requirements/runtime.txt  runtime only: what the container image installs
# Run it after changing a dependency in pyproject.toml, then run the tests and commit all three.
#   scripts/lock.sh            keep locked versions that still satisfy pyproject.toml
#   scripts/lock.sh --upgrade  take the newest versions allowed
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v uv >/dev/null || python3 -m pip install --quiet --disable-pip-version-check uv
compile() { uv pip compile pyproject.toml requirements/build.in --python-version 3.11 \
  --generate-hashes --quiet "$@"; }
compile --extra dev -o requirements/lock.txt "$@"
compile -o requirements/runtime.txt "$@"
