# Sourced by scripts/test.sh (and anyone who wants the same environment in a shell:
# `source scripts/venv.sh && ensure_venv`). Builds the project's virtual environment from the
# locked dependency set and puts it first on PATH.
#
# ORDERHUB_VENV   where the environment lives (default: .venv in the repository)
# ORDERHUB_PYTHON the interpreter to build it from (default: python3.11, else python3; >= 3.11)

ensure_venv() {
  local repo venv python stamp want
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  venv="${ORDERHUB_VENV:-$repo/.venv}"
  python="${ORDERHUB_PYTHON:-$(command -v python3.11 || command -v python3)}"
  stamp="$venv/.orderhub-lock"
  # The environment is rebuilt whenever the lock, the project's metadata or the interpreter
  # changes; otherwise it is reused as it is (a fresh clone always builds it).
  want="$(cat "$repo/requirements/lock.txt" "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
  if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "[venv] building $venv from requirements/lock.txt with $("$python" --version)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # Every package, its exact version and its hash come from the lock; nothing else is fetched.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      --require-hashes --no-deps -r "$repo/requirements/lock.txt"
    # The project itself, editable, built with the locked setuptools (no isolated build env).
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      --no-deps --no-build-isolation -e "$repo"
    "$venv/bin/python" -m pip check >&2
    echo "$want" >"$stamp"
  fi
  export VIRTUAL_ENV="$venv"
  export PATH="$venv/bin:$PATH"
}
