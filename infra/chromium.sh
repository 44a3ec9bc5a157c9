#!/usr/bin/env bash
# Debian's Chromium for the console's browser tests (Playwright drives it by its executable
# path: Playwright's own browser download does not work on machines without internet).
#
#   infra/chromium.sh install   apt-get install chromium if missing; prints its path
#   infra/chromium.sh path      print the path if installed, exit 1 otherwise
set -euo pipefail

log() { echo "[chromium] $*" >&2; }

find_chromium() {
  for candidate in "${ORDERHUB_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

case "${1:-}" in
  install)
    if path=$(find_chromium); then
      log "present: $("$path" --version 2>/dev/null || echo "$path")"
      echo "$path"
      exit 0
    fi
    log "installing Debian's chromium package"
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >&2
    find_chromium
    ;;
  path)
    find_chromium
    ;;
  *)
    echo "usage: $0 install|path" >&2
    exit 2
    ;;
esac
