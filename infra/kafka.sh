#!/usr/bin/env bash
# Runs the real Apache Kafka broker (KRaft, single node) on 127.0.0.1 from jars fetched
# from Maven Central by infra/kafka/pom.xml. No Docker needed.
#
#   infra/kafka.sh fetch    download the broker jars into the cache (reused when present)
#   infra/kafka.sh start    fetch, format KRaft storage, start, wait until it answers;
#                           prints the bootstrap address (127.0.0.1:PORT)
#   infra/kafka.sh stop     stop the broker started by `start` (by PID)
#   infra/kafka.sh status   print the bootstrap address if running, exit 1 otherwise
#
# Environment: ORDERHUB_CACHE_DIR (jar cache, default ~/.cache/orderhub),
#              ORDERHUB_SERVICES_DIR (state: data, logs, pid, port; default <repo>/.services)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
pom="$here/kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
cache="${ORDERHUB_CACHE_DIR:-$HOME/.cache/orderhub}/kafka-$version"
state="${ORDERHUB_SERVICES_DIR:-$repo/.services}/kafka"
libs="$cache/libs"

log() { echo "[kafka] $*" >&2; }

fetch() {
  if [[ -f "$libs/.complete" ]]; then
    log "broker jars for Kafka $version found in $libs"
    return
  fi
  log "fetching Apache Kafka $version and its runtime dependencies from Maven Central (mvn)"
  rm -rf "$libs" && mkdir -p "$libs"
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs" >&2
  touch "$libs/.complete"
  log "$(ls "$libs" | grep -c '\.jar$') jars in $libs"
}

running_port() {
  [[ -f "$state/pid" && -f "$state/port" ]] || return 1
  kill -0 "$(cat "$state/pid")" 2>/dev/null || return 1
  cat "$state/port"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && grep -q "Kafka Server started" "$state/logs/server.log" 2>/dev/null
}

start() {
  if port="$(running_port)"; then
    log "already running on 127.0.0.1:$port (pid $(cat "$state/pid"))"
    echo "127.0.0.1:$port"
    return
  fi
  fetch
  rm -rf "$state" && mkdir -p "$state/data" "$state/logs"
  local port cport cluster_id
  port="$(free_port)"
  cport="$(free_port)"
  while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
  cat >"$state/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$state/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$here/kafka/log4j2.properties" "-Dkafka.logs.dir=$state/logs")
  cluster_id="$(java -cp "$libs/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
  log "formatting KRaft storage (cluster $cluster_id) with kafka.tools.StorageTool"
  java -cp "$libs/*" "${java_opts[@]}" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$state/server.properties" >"$state/logs/format.log" 2>&1
  log "starting kafka.Kafka $version on 127.0.0.1:$port (controller :$cport)"
  nohup java -cp "$libs/*" "${java_opts[@]}" kafka.Kafka "$state/server.properties" \
    >"$state/logs/stdout.log" 2>&1 &
  echo $! >"$state/pid"
  echo "$port" >"$state/port"
  local deadline=$((SECONDS + 90))
  until answers "$port"; do
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      log "broker exited during start-up; last lines of its logs:"
      tail -n 30 "$state/logs/stdout.log" "$state/logs/server.log" >&2 || true
      exit 1
    fi
    if ((SECONDS > deadline)); then
      log "broker did not answer within 90 s"
      stop
      exit 1
    fi
    sleep 0.5
  done
  log "broker answers on 127.0.0.1:$port (pid $(cat "$state/pid"), logs in $state/logs)"
  echo "127.0.0.1:$port"
}

stop() {
  [[ -f "$state/pid" ]] || { log "not running"; return 0; }
  local pid
  pid="$(cat "$state/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "stopped (pid $pid)"
  fi
  rm -f "$state/pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running_port | sed 's/^/127.0.0.1:/' ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
