#!/usr/bin/env bash
# Lab 6 without a human: durability. Queue 5 missions with no worker running,
# restart the broker, and see what is left. Uses private brokers only (the
# shared ones are never touched): a redis-server without persistence, one
# with appendonly yes + appendfsync always, and, if it can be started here,
# a private RabbitMQ node. Checks with status -o json and a worker run:
# Redis without AOF keeps 0 of 5, Redis with AOF keeps 5, RabbitMQ keeps 5.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
cd "$work"
bin="$root/bin/palantir"
n=5
pids=()          # palantir workers
redis_pids=()    # private redis-servers
rmq_node=""      # private RabbitMQ node, once started
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${redis_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ -n "$rmq_node" ]; then
    timeout 60 "$rabbitmqctl" -n "$rmq_node" stop "$work/rabbit/pid" >/dev/null 2>&1 ||
      { [ -s "$work/rabbit/pid" ] && kill -9 "$(cat "$work/rabbit/pid")" 2>/dev/null; } || true
  fi
  cd / && rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o bin/palantir ./cmd/palantir)

fail() { echo "LAB 6 FAILED: $*" >&2; exit 1; }

# queue_row URL: the queue's ready count from status -o json
ready() { "$bin" --backend "$1" --queue lab6 status -o json | python3 -c 'import json,sys
print(next(r for r in json.load(sys.stdin) if r["group"] == "queue").get("ready", "?"))'; }

# ---- Redis -----------------------------------------------------------------
command -v redis-server >/dev/null || fail "redis-server is not installed"
start_redis() {  # dir port persistence-flags...
  local dir=$1 port=$2; shift 2
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null
  for _ in $(seq 100); do
    [ -s "$dir/redis.pid" ] && "$bin" --backend "redis://127.0.0.1:$port/0" --store "$dir/probe.db" doctor >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ -s "$dir/redis.pid" ] || fail "the private redis-server on port $port did not start (see $dir/redis.log)"
  redis_pids+=("$(cat "$dir/redis.pid")")
}
redis_part() {  # name persistence-flags...
  local name=$1; shift
  local dir="$work/$name" port; port=$(free_port)
  mkdir -p "$dir" && cd "$dir"
  local url="redis://127.0.0.1:$port/0"
  start_redis "$dir" "$port" "$@"
  "$bin" --backend "$url" --queue lab6 launch raven --count $n --speed 10 --fail-rate 0 >ids.txt 2>/dev/null
  local before; before=$(ready "$url")
  # The restart: a crash (SIGKILL), then the same command line again.
  local pid; pid=$(cat redis.pid); kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f redis.pid
  start_redis "$dir" "$port" "$@"
  local after; after=$(ready "$url")
  # A worker run: it takes what the broker still has, for at most 3 seconds.
  timeout -s TERM 3 "$bin" --backend "$url" --queue lab6 worker --name "$name" --max-missions $n -q 2>worker.log || true
  "$bin" --queue lab6 status $(cat ids.txt) -o json >missions.json
  local done_; done_=$(python3 -c 'import json; print(sum(m["status"] == "SUCCESS" for m in json.load(open("missions.json"))))')
  echo "$name: $n queued; ready before the restart $before, after $after; a worker then completed $done_"
  echo "$before $after $done_" >result
  cd "$work"
}
redis_part redis-no-aof --save "" --appendonly no
read -r b a d <"$work/redis-no-aof/result"
[ "$b $a $d" = "$n 0 0" ] || fail "Redis without persistence: expected ready $n, then 0, and 0 completed; got $b, $a, $d"
redis_part redis-aof --save "" --appendonly yes --appendfsync always
read -r b a d <"$work/redis-aof/result"
[ "$b $a $d" = "$n $n $n" ] || fail "Redis with appendfsync always: expected $n ready before and after, $n completed; got $b, $a, $d"

# ---- RabbitMQ (a private node; skipped if one cannot be started here) -----
rabbitmq_server=/usr/lib/rabbitmq/bin/rabbitmq-server   # the real script, not the Debian wrapper that su's
rabbitmqctl=/usr/lib/rabbitmq/bin/rabbitmqctl
[ -x "$rabbitmq_server" ] || rabbitmq_server=$(command -v rabbitmq-server || true)
[ -x "$rabbitmqctl" ] || rabbitmqctl=$(command -v rabbitmqctl || true)
skip_rabbit() { echo "lab 6: RabbitMQ half SKIPPED: $*"; echo "lab 6 OK (Redis only): without AOF a restart lost all $n missions; with AOF always it kept them"; exit 0; }
[ -n "$rabbitmq_server" ] && [ -n "$rabbitmqctl" ] || skip_rabbit "rabbitmq-server is not installed"

rdir="$work/rabbit"; mkdir -p "$rdir" && cd "$rdir" && : >enabled_plugins
amqp_port=$(free_port); dist_port=$(free_port)
export HOME="$rdir"   # its own Erlang cookie
export RABBITMQ_NODENAME="lab6-$$@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port" \
  RABBITMQ_DIST_PORT="$dist_port" RABBITMQ_MNESIA_BASE="$rdir/mnesia" RABBITMQ_LOG_BASE="$rdir/log" \
  RABBITMQ_PID_FILE="$rdir/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$rdir/enabled_plugins" \
  RABBITMQ_CONFIG_FILE="$rdir/none" RABBITMQ_ADVANCED_CONFIG_FILE="$rdir/none.config" RABBITMQ_CONF_ENV_FILE="$rdir/none.env"
url="amqp://guest:guest@127.0.0.1:$amqp_port/"
start_rabbit() {
  rm -f "$rdir/pid"
  "$rabbitmq_server" -detached >>"$rdir/start.log" 2>&1 || return 1
  rmq_node=$RABBITMQ_NODENAME
  timeout 130 "$rabbitmqctl" -n "$rmq_node" wait --timeout 120 "$rdir/pid" >>"$rdir/start.log" 2>&1
}
start_rabbit || skip_rabbit "a private node did not start within 2 minutes (see $rdir/start.log)"
"$bin" --backend "$url" --queue lab6 launch raven --count $n --speed 10 --fail-rate 0 >ids.txt 2>/dev/null
before=$(ready "$url")
"$rabbitmqctl" -n "$rmq_node" stop "$rdir/pid" >>"$rdir/start.log" 2>&1 || fail "could not stop the private RabbitMQ node"
rmq_node=""
start_rabbit || fail "the private RabbitMQ node did not come back (see $rdir/start.log)"
after=$(ready "$url")
timeout -s TERM 20 "$bin" --backend "$url" --queue lab6 worker --name rabbit --max-missions $n -q 2>worker.log || true
"$bin" --queue lab6 status $(cat ids.txt) -o json >missions.json
done_=$(python3 -c 'import json; print(sum(m["status"] == "SUCCESS" for m in json.load(open("missions.json"))))')
echo "rabbitmq: $n queued; ready before the restart $before, after $after; a worker then completed $done_"
[ "$before $after $done_" = "$n $n $n" ] || fail "RabbitMQ: expected $n ready before and after the restart, $n completed; got $before, $after, $done_"
echo "lab 6 OK: a restart lost every queued mission on Redis without AOF, none with AOF always, none on RabbitMQ"
