#!/usr/bin/env bash
# Runs PostgreSQL from Debian's packages (postgresql-common: pg_lsclusters, pg_ctlcluster) for
# OrderHub's distributed mode and its integration tests. No Docker needed.
#
#   infra/postgres.sh install        apt-get install postgresql if the server is missing
#   infra/postgres.sh start          install if needed, create/start the cluster, wait until it
#                                    answers, ensure role+database `orderhub` (password
#                                    `orderhub`) and password login over TCP on 127.0.0.1;
#                                    prints postgresql://orderhub:orderhub@127.0.0.1:PORT/orderhub
#   infra/postgres.sh stop           stop the cluster
#   infra/postgres.sh restart        restart the cluster (pg_ctlcluster restart), wait until it
#                                    answers; for fault tests (use ORDERHUB_PG_CLUSTER to pick a
#                                    cluster of their own, not one others are using)
#   infra/postgres.sh status         print the URL if the cluster answers, exit 1 otherwise
#   infra/postgres.sh createdb NAME  create database NAME owned by orderhub (kept if it exists);
#                                    prints its URL
#   infra/postgres.sh dropdb NAME    drop database NAME (WITH (FORCE): closes its sessions)
#
# Only the URL goes to stdout; everything else goes to stderr, so `url=$(infra/postgres.sh start)`
# works. Needs root, or passwordless sudo, for install/start/stop (it manages a system service).
#
# Environment: ORDERHUB_PG_CLUSTER (cluster name to use or create, default: the first cluster of
#              the newest installed version, else "main"),
#              ORDERHUB_SERVICES_DIR (where the start lock lives; default <repo>/.services),
#              ORDERHUB_PG_STAT_STATEMENTS=1 (load pg_stat_statements when `start` starts a stopped
#              cluster: per-statement calls, rows and WAL for benchmarks.pg_costs; a running
#              cluster is not restarted for it),
#              ORDERHUB_PG_WAL_TUNING=0 (do not set the settings of tune_wal below, WAL and
#              ssl, when `start` starts a stopped cluster)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
state="${ORDERHUB_SERVICES_DIR:-$repo/.services}"
role=orderhub
password=orderhub
database=orderhub

log() { echo "[postgres] $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

# psql as the postgres superuser over the local socket (peer auth), so no password is needed to
# bootstrap the role that the TCP URL uses.
psql_admin() {
  local port=$1; shift
  if ((EUID == 0)); then
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"
  else
    sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"
  fi
}

url_for() { echo "postgresql://$role:$password@127.0.0.1:$1/$2"; }

installed() {
  command -v pg_ctlcluster >/dev/null && command -v pg_lsclusters >/dev/null \
    && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

install() {
  if installed; then
    log "PostgreSQL server packages present ($(newest_version))"
    return
  fi
  export DEBIAN_FRONTEND=noninteractive
  # An image with emptied package lists knows no `postgresql`; refreshing them costs tens of
  # seconds, so do it only when apt cannot see a candidate or the install fails on stale lists.
  if ! apt-cache policy postgresql 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    log "apt-get update (no candidate for postgresql in the package lists)"
    as_root apt-get update -q >&2
  fi
  log "apt-get install -y postgresql"
  if ! as_root apt-get install -y -q --no-install-recommends postgresql >&2; then
    log "install failed; refreshing package lists and retrying once"
    as_root apt-get update -q >&2
    as_root apt-get install -y -q --no-install-recommends postgresql >&2
  fi
  installed || die "postgresql installed but no server binaries found under /usr/lib/postgresql"
}

newest_version() {
  local dirs=(/usr/lib/postgresql/*/bin/postgres)
  printf '%s\n' "${dirs[@]}" | sed 's:/usr/lib/postgresql/\([^/]*\)/.*:\1:' | sort -n | tail -n 1
}

# Prints "version cluster port status" of the cluster to use, or nothing if there is none.
find_cluster() {
  local ver want
  ver="$(newest_version)"
  want="${ORDERHUB_PG_CLUSTER:-}"
  pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v w="$want" '
    $1 == v && (w == "" || $2 == w) { print $1, $2, $3, $4; exit }'
}

cluster_or_die() {
  local c
  c="$(find_cluster)"
  [[ -n "$c" ]] || die "no PostgreSQL cluster (run: $0 start)"
  echo "$c"
}

wait_ready() {
  local port=$1 deadline=$((SECONDS + 60))
  until pg_isready -q -h 127.0.0.1 -p "$port"; do
    ((SECONDS < deadline)) || die "PostgreSQL on 127.0.0.1:$port not ready within 60 s"
    sleep 0.2
  done
}

tcp_login_works() {
  PGPASSWORD="$password" PGCONNECT_TIMEOUT=5 psql -X -q -At -h 127.0.0.1 -p "$1" -U "$role" \
    -d "$database" -c 'select 1' >/dev/null 2>&1
}

ensure_role_and_database() {
  local port=$1
  # ALTER on every start, so a role created elsewhere with another password or without
  # CREATEDB (needed for per-test databases) is brought back to what the URL promises.
  psql_admin "$port" >&2 <<SQL
SELECT format('CREATE ROLE %I', '$role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') \gexec
ALTER ROLE $role WITH LOGIN CREATEDB PASSWORD '$password';
-- DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker on a test database.
GRANT pg_signal_backend TO $role;
SELECT format('CREATE DATABASE %I OWNER %I', '$database', '$role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$database') \gexec
SQL
}

ensure_tcp_password_auth() {
  local port=$1 hba
  tcp_login_works "$port" && return
  # Debian's default pg_hba.conf has `host all all 127.0.0.1/32 scram-sha-256`; a hand-edited
  # one may not. Put our line first (first match wins) and reload.
  hba="$(psql_admin "$port" -At -c 'SHOW hba_file')"
  log "password login over TCP failed; adding a scram-sha-256 line for $role to $hba"
  if ! grep -q "^host[[:space:]]\+all[[:space:]]\+$role[[:space:]]\+127.0.0.1/32" "$hba"; then
    as_root sed -i "1i host all $role 127.0.0.1/32 scram-sha-256  # added by orderhub infra/postgres.sh" "$hba"
  fi
  psql_admin "$port" -At -c 'SELECT pg_reload_conf()' >/dev/null
  local deadline=$((SECONDS + 10))
  until tcp_login_works "$port"; do
    ((SECONDS < deadline)) || die "password login as $role on 127.0.0.1:$port still fails; check listen_addresses and $hba"
    sleep 0.2
  done
}

# Server settings for the hub's write load, set when this script starts a stopped cluster (a
# running one is left as it is; ORDERHUB_PG_WAL_TUNING=0 leaves them all to the operator).
# Durability is untouched: fsync, synchronous_commit and full_page_writes stay on.
# - Every page's first change after a checkpoint is logged whole (a full-page image, 8 kB): right
#   after one, the flow's WAL per order was several times its steady size (benchmarks/README.md,
#   h-pgwal). Checkpoints further apart (15 min, or 4 GB of WAL: the default 1 GB is reached in
#   ~4 min at 100 orders/s) make those images rarer, for a longer crash recovery (the WAL since
#   the last checkpoint is replayed) and up to ~4 GB more disk in pg_wal.
# - wal_compression=lz4 compresses those images (only them), for little CPU.
# - ssl off while the cluster listens on loopback only (listen_addresses unset, the default
#   `localhost`, or only 127.0.0.1 / ::1): Debian's clusters come with ssl=on and a snakeoil
#   certificate, so every connection of the hub (libpq's sslmode=prefer) encrypted each message
#   both ways, where nothing leaves the machine. In the flow at 100 orders/s that was ~15 % of
#   PostgreSQL's backend CPU (libssl/libcrypto and their reads; benchmarks/README.md, pg
#   2026-12-05), and as much again in the hub's processes. A cluster that listens on any other
#   address keeps its ssl setting.
tune_wal() {
  [[ "${ORDERHUB_PG_WAL_TUNING:-1}" != 0 ]] || return 0
  local ver=$1 name=$2 setting
  log "WAL settings for $ver/$name: checkpoint_timeout 15min, max_wal_size 4GB, wal_compression lz4"
  for setting in "checkpoint_timeout 15min" "max_wal_size 4GB" "wal_compression lz4"; do
    # shellcheck disable=SC2086 # name and value as two words
    as_root pg_conftool "$ver" "$name" set $setting >&2 9>&-
  done
  if loopback_only "$ver" "$name"; then
    log "ssl off for $ver/$name (it listens on loopback only)"
    as_root pg_conftool "$ver" "$name" set ssl off >&2 9>&-
  fi
}

loopback_only() {
  local listen address addresses
  listen="$(pg_conftool -s "$1" "$2" show listen_addresses 2>/dev/null || true)"
  listen="${listen//[\' ]/}"
  [[ -n "$listen" ]] || return 0 # unset: PostgreSQL's default, localhost
  IFS=, read -ra addresses <<<"$listen"
  for address in "${addresses[@]}"; do
    case "$address" in
      localhost | 127.0.0.1 | ::1) ;;
      *) return 1 ;;
    esac
  done
}

start() {
  mkdir -p "$state"
  # Test sessions (pytest-xdist workers, several engineers) may call start at the same time.
  exec 9>"$state/postgres.lock"
  flock 9
  installed || install
  local ver name port status
  if [[ -z "$(find_cluster)" ]]; then
    ver="$(newest_version)"
    name="${ORDERHUB_PG_CLUSTER:-main}"
    log "creating cluster $ver/$name (UTF8, C.UTF-8)"
    # Without an explicit locale a container without LANG gets SQL_ASCII, which would accept
    # and store invalid text silently.
    as_root pg_createcluster --encoding=UTF8 --locale=C.UTF-8 "$ver" "$name" >&2 9>&-
  fi
  local c
  c="$(cluster_or_die)"
  read -r ver name port status <<<"$c"
  if [[ "$status" != online* ]]; then
    if [[ "${ORDERHUB_PG_STAT_STATEMENTS:-}" == 1 ]]; then
      log "loading pg_stat_statements in $ver/$name"
      as_root pg_conftool "$ver" "$name" set shared_preload_libraries pg_stat_statements >&2 9>&-
      as_root pg_conftool "$ver" "$name" set pg_stat_statements.track all >&2 9>&-
    fi
    tune_wal "$ver" "$name"
    log "starting cluster $ver/$name on port $port"
    # 9>&-: the server must not inherit the lock, or it would hold it for its whole life.
    as_root pg_ctlcluster "$ver" "$name" start >&2 9>&-
  fi
  wait_ready "$port"
  ensure_role_and_database "$port"
  ensure_tcp_password_auth "$port"
  log "PostgreSQL $ver/$name answers on 127.0.0.1:$port (role and database $role)"
  url_for "$port" "$database"
}

stop() {
  local c ver name port status
  c="$(find_cluster)"
  [[ -n "$c" ]] || { log "no cluster"; return 0; }
  read -r ver name port status <<<"$c"
  if [[ "$status" == online* ]]; then
    as_root pg_ctlcluster "$ver" "$name" stop >&2
    log "stopped cluster $ver/$name"
  else
    log "cluster $ver/$name is not running"
  fi
}

restart() {
  local c ver name port status
  c="$(cluster_or_die)"
  read -r ver name port status <<<"$c"
  as_root pg_ctlcluster "$ver" "$name" restart >&2
  wait_ready "$port"
  log "restarted cluster $ver/$name"
  url_for "$port" "$database"
}

status() {
  installed || exit 1
  local c ver name port st
  c="$(find_cluster)"
  [[ -n "$c" ]] || exit 1
  read -r ver name port st <<<"$c"
  [[ "$st" == online* ]] && pg_isready -q -h 127.0.0.1 -p "$port" || exit 1
  url_for "$port" "$database"
}

check_name() {
  [[ "${1:-}" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name must match [a-z_][a-z0-9_]* (got '${1:-}')"
}

createdb() {
  check_name "${1:-}"
  local c ver name port st
  c="$(cluster_or_die)"
  read -r ver name port st <<<"$c"
  psql_admin "$port" >&2 <<SQL
SELECT format('CREATE DATABASE %I OWNER %I', '$1', '$role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$1') \gexec
SQL
  url_for "$port" "$1"
}

dropdb() {
  check_name "${1:-}"
  [[ "$1" != "$database" ]] || die "refusing to drop the main database '$database'"
  local c ver name port st
  c="$(cluster_or_die)"
  read -r ver name port st <<<"$c"
  psql_admin "$port" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >&2
  log "dropped database $1 (if it existed)"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  status) status ;;
  createdb) createdb "${2:-}" ;;
  dropdb) dropdb "${2:-}" ;;
  *) echo "usage: $0 install|start|stop|restart|status|createdb NAME|dropdb NAME" >&2; exit 2 ;;
esac
