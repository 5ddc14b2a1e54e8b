#!/bin/bash
# tests/kafka/broker.sh start|stop|env|status — a private single-node Apache
# Kafka broker (KRaft, broker+controller in one JVM) on 127.0.0.1 for tests,
# benchmarks and the demo.
#
#   start   fetch the broker jars with Maven into a cache directory (first run
#           only), format KRaft storage in a temp dir, start the broker on a
#           free 127.0.0.1 port and wait until it answers.  A broker already
#           running from the same state dir is reused.
#   env     print `export KAFKA_BOOTSTRAP=127.0.0.1:PORT` (and friends) for eval.
#   stop    SIGTERM the broker, wait for a clean shutdown, remove the temp dir.
#   status  exit 0 when the broker is running.
#   restart [SECS [term|kill]]  an outage for tests: stop the broker (SIGTERM,
#           or SIGKILL as a crash), keep it down SECS seconds, start it again
#           on the same port and data.
#
# Environment:
#   WARDEN_KAFKA_DIR   state dir (default ${TMPDIR:-/tmp}/warden-kafka-$UID);
#                      give each concurrent broker its own.
#   KAFKA_VERSION      Apache Kafka version (default 3.9.2, the newest 3.9.x
#                      Maven Central serves; stay on 3.9: 4.0 removed JoinGroup
#                      v0, which librdkafka 2.0.2 needs).
#   WARDEN_KAFKA_CACHE jar cache (default ${XDG_CACHE_HOME:-~/.cache}/warden).
#   KAFKA_PARTITIONS   partitions of auto-created topics (default 4).
#   KAFKA_HEAP         JVM heap (default 512m).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-3.9.2}
CACHE=${WARDEN_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warden}
LIBS="$CACHE/kafka-$KAFKA_VERSION"
STATE=${WARDEN_KAFKA_DIR:-${TMPDIR:-/tmp}/warden-kafka-$(id -u)}
PARTITIONS=${KAFKA_PARTITIONS:-4}
HEAP=${KAFKA_HEAP:-512m}

die() { echo "broker.sh: $*" >&2; exit 1; }

running() {
    [ -f "$STATE/pid" ] || return 1
    local pid; pid=$(cat "$STATE/pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# The broker's jars: copied once by Maven into $LIBS, reused afterwards.  A
# half-finished copy (interrupted download) is redone.
fetch_jars() {
    [ -f "$LIBS/.complete" ] && return 0
    command -v mvn >/dev/null || die "mvn not found (tools/deps.sh installs maven)"
    echo "broker.sh: fetching Apache Kafka $KAFKA_VERSION jars with Maven into $LIBS" >&2
    rm -rf "$LIBS.tmp"; mkdir -p "$LIBS.tmp" || die "cannot create $LIBS.tmp"
    local log="$LIBS.tmp.log"
    if ! mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" \
            -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$LIBS.tmp" >"$log" 2>&1; then
        tail -20 "$log" >&2
        die "Maven could not fetch kafka_2.13:$KAFKA_VERSION (log: $log)"
    fi
    ls "$LIBS.tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar in $LIBS.tmp"
    touch "$LIBS.tmp/.complete"
    rm -rf "$LIBS"; mv "$LIBS.tmp" "$LIBS"; rm -f "$log"
}

# Two free loopback TCP ports (broker, controller).
free_ports() {
    python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

write_config() {
    local port=$1 cport=$2
    cat >"$STATE/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$STATE/data
num.partitions=$PARTITIONS
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=8388608
log.retention.check.interval.ms=30000
log.cleaner.dedupe.buffer.size=8388608
log.cleaner.threads=1
log.cleaner.backoff.ms=5000
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
EOF
    cat >"$STATE/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$STATE/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka=WARN
log4j.logger.kafka=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
EOF
}

java_opts() {
    echo "-Xms$HEAP -Xmx$HEAP -XX:+UseSerialGC -Xshare:auto
          -Djava.awt.headless=true -Dlog4j.configuration=file:$STATE/log4j.properties"
}

# 0 ready, 1 the broker died (a port taken meanwhile?), exits on timeout.
wait_ready() {
    local bootstrap=$1 i
    for i in $(seq 1 240); do   # 60 s
        running || return 1
        if kcat -b "$bootstrap" -L -m 2 -t __warden_probe 2>/dev/null | grep -q "broker 1 at"; then
            return 0
        fi
        sleep 0.25
    done
    die "broker did not answer on $bootstrap within 60 s (log: $STATE/server.log)"
}

# Starts the JVM on the state dir's config and data.  setsid: the broker
# outlives the calling shell and no terminal signal reaches it; stop()
# signals it by pid.
launch() {
    # shellcheck disable=SC2046
    setsid java $(java_opts) -cp "$LIBS/*" kafka.Kafka "$STATE/server.properties" \
        >>"$STATE/stdout.log" 2>&1 </dev/null &
    echo $! >"$STATE/pid"
}

# SIGTERM, then KILL after 30 s; the state dir stays.
halt() {
    running || return 0
    local pid i; pid=$(cat "$STATE/pid")
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    echo "broker.sh: broker $pid did not stop in 30 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    sleep 0.5
}

# An outage: the broker stops (cleanly, or with -9 as a crash), stays down
# SECS seconds, and comes back on the same port with the same data.
cmd_restart() {
    local secs=${1:-0} how=${2:-term}
    running || die "no broker running (state dir $STATE)"
    if [ "$how" = kill ]; then
        kill -KILL "$(cat "$STATE/pid")" 2>/dev/null; sleep 0.5
    else
        halt
    fi
    sleep "$secs"
    launch
    wait_ready "$(cat "$STATE/bootstrap")" || die "the broker did not come back (log: $STATE/server.log)"
    echo "broker.sh: broker back on $(cat "$STATE/bootstrap") after ${secs} s down (pid $(cat "$STATE/pid"))" >&2
}

cmd_start() {
    if running; then
        echo "broker.sh: reusing the broker already running ($(cat "$STATE/bootstrap"), pid $(cat "$STATE/pid"))" >&2
        return 0
    fi
    command -v java >/dev/null || die "java not found (tools/deps.sh installs openjdk-17-jre-headless)"
    command -v kcat >/dev/null || die "kcat not found"
    fetch_jars
    local t0 ports port cport id attempt
    t0=$(date +%s.%N)
    for attempt in 1 2 3; do
        rm -rf "$STATE"; mkdir -p "$STATE/data" || die "cannot create $STATE"
        ports=$(free_ports) || die "no free port"
        port=${ports% *}; cport=${ports#* }
        write_config "$port" "$cport"
        # "=": a random id may start with "-", which would read as an option.
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
        # shellcheck disable=SC2046
        if ! java $(java_opts) -cp "$LIBS/*" kafka.tools.StorageTool format --cluster-id="$id" \
                -c "$STATE/server.properties" >"$STATE/format.log" 2>&1; then
            echo "broker.sh: KRaft storage format failed (attempt $attempt):" >&2
            tail -15 "$STATE/format.log" >&2
            [ "$attempt" = 3 ] && die "KRaft storage format failed"
            continue
        fi
        echo "127.0.0.1:$port" >"$STATE/bootstrap"
        launch
        wait_ready "127.0.0.1:$port" && break
        echo "broker.sh: the broker exited during startup (attempt $attempt):" >&2
        tail -15 "$STATE/server.log" "$STATE/stdout.log" >&2 2>/dev/null
        [ "$attempt" = 3 ] && die "broker did not start"
    done
    local t1 rss
    t1=$(date +%s.%N)
    rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$(cat "$STATE/pid")/status" 2>/dev/null)
    printf 'broker.sh: Kafka %s ready on 127.0.0.1:%s in %.1f s (pid %s, RSS %s MB, dir %s)\n' \
        "$KAFKA_VERSION" "$port" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
        "$(cat "$STATE/pid")" "${rss:-?}" "$STATE" >&2
}

cmd_stop() {
    halt
    # Only ever remove a directory this script made (it holds server.properties).
    if [ -d "$STATE" ] && { [ -f "$STATE/server.properties" ] || [ -z "$(ls -A "$STATE")" ]; }; then
        rm -rf "$STATE"
    fi
    return 0
}

cmd_env() {
    running || die "no broker running (state dir $STATE); run: $0 start"
    echo "export KAFKA_BOOTSTRAP=$(cat "$STATE/bootstrap")"
    echo "export KAFKA_BROKER_PID=$(cat "$STATE/pid")"
    echo "export KAFKA_BROKER_DIR=$STATE"
    echo "export KAFKA_BROKER_LIBS=$LIBS"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    status) running ;;
    restart) shift; cmd_restart "$@" ;;
    *) echo "usage: $0 start|stop|env|status|restart [SECS [term|kill]]" >&2; exit 2 ;;
esac
