#!/usr/bin/env bash
# Runs the real Apache Kafka broker (KRaft, single node) on 127.0.0.1 from jars fetched
# from Maven Central by infra/kafka/pom.xml. No Docker needed.
#
#   infra/kafka.sh fetch    download the broker jars into the cache (reused when present)
#   infra/kafka.sh start    fetch, format KRaft storage, start, wait until it answers;
#                           prints the bootstrap address (127.0.0.1:PORT)
#   infra/kafka.sh start --keep
#                           start again on the same port with the data it had (after `stop`);
#                           a fresh broker when there is none to restart
#   infra/kafka.sh stop     stop the broker (SIGTERM, by PID); its data and port are kept
#   infra/kafka.sh stop --kill
#                           SIGKILL: a crash, for fault tests
#   infra/kafka.sh restart  stop, then start --keep (same port, same data)
#   infra/kafka.sh status   print the bootstrap address if running, exit 1 otherwise
#   infra/kafka.sh groups   list consumer groups (the broker's ConsumerGroupCommand)
#   infra/kafka.sh lag [GROUP]
#                           committed offset, end and lag per partition of GROUP (default: all)
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
  if [[ -f "$libs/.complete" && -f "$libs/kafka-tools-$version.jar" ]]; then
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

java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$here/kafka/log4j2.properties" "-Dkafka.logs.dir=$state/logs")

start() {
  if port="$(running_port)"; then
    log "already running on 127.0.0.1:$port (pid $(cat "$state/pid"))"
    echo "127.0.0.1:$port"
    return
  fi
  fetch
  if [[ "${1:-}" == "--keep" && -f "$state/server.properties" && -f "$state/port" \
        && -f "$state/data/meta.properties" ]]; then
    port="$(cat "$state/port")"
    log "restarting kafka.Kafka $version on 127.0.0.1:$port with its data in $state/data"
    launch "$port"
    return
  fi
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
  cluster_id="$(java -cp "$libs/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
  log "formatting KRaft storage (cluster $cluster_id) with kafka.tools.StorageTool"
  java -cp "$libs/*" "${java_opts[@]}" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$state/server.properties" >"$state/logs/format.log" 2>&1
  log "starting kafka.Kafka $version on 127.0.0.1:$port (controller :$cport)"
  launch "$port"
}

launch() {
  local port="$1"
  # `answers` looks for this start's "Kafka Server started", not a previous one's.
  [[ -f "$state/logs/server.log" ]] && mv "$state/logs/server.log" "$state/logs/server.log.1"
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
    if [[ "${1:-}" == "--kill" ]]; then
      kill -9 "$pid"
    else
      kill "$pid"
    fi
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "stopped (pid $pid)"
  fi
  rm -f "$state/pid"
}

groups_tool() {
  local port
  port="$(running_port)" || { log "not running"; exit 1; }
  fetch
  java -cp "$libs/*" "${java_opts[@]}" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
    --bootstrap-server "127.0.0.1:$port" "$@"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  restart) stop && start --keep ;;
  status) running_port | sed 's/^/127.0.0.1:/' ;;
  groups) groups_tool --list ;;
  lag)
    if [[ -n "${2:-}" ]]; then groups_tool --describe --group "$2"; else groups_tool --describe --all-groups; fi
    ;;
  *) echo "usage: $0 fetch|start [--keep]|stop [--kill]|restart|status|groups|lag [GROUP]" >&2; exit 2 ;;
esac
