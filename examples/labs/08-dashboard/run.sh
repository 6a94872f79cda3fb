#!/usr/bin/env bash
# Lab 8 without a human: the dashboard's API tells what the page draws.
#  1. inproc: `palantir serve` runs two embedded workers; a fellowship
#     launched through the API ends SUCCESS and both eagles worked.
#  2. Redis: serve (no embedded workers) beside two worker processes; the
#     worker holding missions is SIGKILLed; /api/status stops listing it,
#     its missions are redelivered to the other (a mission_started
#     "redelivered" in their events), all end SUCCESS, scored once, and
#     /metrics counts the redeliveries.
#  3. Side by side: the same launch with the same seed on inproc and on
#     RabbitMQ (serve with two embedded workers) gives the same missions,
#     heroes and ambushes (attempts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
queue="lab8-$$-$RANDOM"
bin="$root/bin/palantir"
pids=()
drop_queues() {  # best effort: delete part 3's RabbitMQ queues from the shared broker
  command -v rabbitmqctl >/dev/null || return 0
  local q qs
  qs=$(timeout 20 rabbitmqctl list_queues -q name </dev/null 2>/dev/null | grep -E "^$queue-side(\.|\$)") || return 0
  for q in $qs; do timeout 20 rabbitmqctl delete_queue -q "$q" </dev/null >/dev/null 2>&1 & done
  wait
}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  drop_queues
  if command -v redis-cli >/dev/null; then
    timeout 10 redis-cli -u "${PALANTIR_REDIS_URL:-redis://127.0.0.1:6379/0}" \
      DEL "palantir:{$queue}" "palantir:{$queue}:delayed" "palantir:{$queue}:dead" >/dev/null 2>&1 || true
  fi
  cd / && rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o bin/palantir ./cmd/palantir)

fail() { echo "LAB 8 FAILED: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api() { curl -sS --max-time 10 "$@"; }
launch() { # base-url, json body -> the new missions
  api -X POST -H 'Content-Type: application/json' -d "$2" "$1/api/missions"
}
# serve DIR ARGS…: starts palantir serve in DIR on a free port and sets
# url to its address. (Not url=$(serve …): a command substitution is a
# subshell, whose pids+= the cleanup would never see.)
serve() {
  local dir=$1; shift
  local port; port=$(free_port)
  mkdir -p "$dir"
  (cd "$dir" && exec "$bin" "$@" serve --addr "127.0.0.1:$port" >serve.log 2>&1) &
  pids+=($!)
  for _ in $(seq 100); do
    if api -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then url="http://127.0.0.1:$port"; return; fi
    sleep 0.1
  done
  fail "serve in $dir did not answer: $(cat "$dir/serve.log")"
}
# until_all_final URL IDS-FILE: waits until every mission is SUCCESS or FAILURE.
until_all_final() {
  for _ in $(seq 600); do
    api "$1/api/missions?limit=1000" | python3 -c '
import json, sys
ids = set(open(sys.argv[1]).read().split())
ms = [m for m in json.load(sys.stdin) if m["id"] in ids]
sys.exit(not (len(ms) == len(ids) and all(m["status"] in ("SUCCESS", "FAILURE") for m in ms)))' "$2" && return 0
    sleep 0.1
  done
  fail "missions of $1 did not all end within 60s"
}
ids_of() { python3 -c 'import json,sys; print("\n".join(m["id"] for m in json.load(sys.stdin)))'; }

# --- 1. inproc: round-robin over two embedded workers -------------------
serve "$work/inproc"
launch "$url" '{"type": "fellowship", "speed": 10, "fail_rate": 0, "seed": 42}' | ids_of >"$work/inproc/ids"
until_all_final "$url" "$work/inproc/ids"
api "$url/api/missions?limit=1000" | python3 -c '
import json, sys
ms = json.load(sys.stdin)
assert len(ms) == 5 and all(m["status"] == "SUCCESS" for m in ms), [(m["id"], m["status"]) for m in ms]
workers = {m["worker"] for m in ms}
assert workers == {"eagle1", "eagle2"}, "both embedded workers should have taken missions, got %s" % workers
print("inproc: 5 SUCCESS, shared by", ", ".join(sorted(workers)))' || fail "inproc: the fellowship did not run on both eagles"

# --- 2. Redis: a worker killed under the dashboard's eyes ----------------
redis_dir="$work/redis"
flags=(--backend redis --queue "$queue" --lease 2s)
serve "$redis_dir" "${flags[@]}"
(cd "$redis_dir" && exec "$bin" "${flags[@]}" worker --name victim --concurrency 2 --quiet 2>victim.log) & victim=$!; pids+=($victim)
(cd "$redis_dir" && exec "$bin" "${flags[@]}" worker --name rescuer --concurrency 2 --quiet 2>rescuer.log) & pids+=($!)
for _ in $(seq 100); do
  n=$(api "$url/api/status" | python3 -c 'import json,sys; print(sum(r["group"] == "live_worker" for r in json.load(sys.stdin)))')
  [ "$n" = 2 ] && break; sleep 0.1
done
[ "$n" = 2 ] || fail "redis: the dashboard never saw both workers"
launch "$url" '{"type": "recon", "count": 4, "speed": 2, "fail_rate": 0}' | ids_of >"$redis_dir/ids"
held=0
for _ in $(seq 200); do
  held=$(api "$url/api/missions?worker=victim&status=PROCESSING" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  [ "$held" -ge 1 ] && break; sleep 0.05
done
[ "$held" -ge 1 ] || fail "redis: the victim never had a mission in progress"
kill -9 "$victim"; wait "$victim" 2>/dev/null || true
echo "redis: killed the victim (SIGKILL) with $held mission(s) in progress"
for _ in $(seq 150); do
  api "$url/api/status" | python3 -c 'import json,sys
sys.exit(any(r["group"] == "live_worker" and r["key"] == "victim" for r in json.load(sys.stdin)))' && break
  sleep 0.1
done
api "$url/api/status" | python3 -c 'import json,sys
sys.exit(any(r["group"] == "live_worker" and r["key"] == "victim" for r in json.load(sys.stdin)))' \
  || fail "redis: /api/status still lists the killed worker as live after 15s"
until_all_final "$url" "$redis_dir/ids"
for id in $(cat "$redis_dir/ids"); do api "$url/api/missions/$id/events" >"$redis_dir/events-$id.json"; done
api "$url/api/leaderboard" >"$redis_dir/board.json"
api "$url/metrics" >"$redis_dir/metrics.txt"
python3 - "$redis_dir" <<'PY' || fail "redis: the killed worker's missions were not redelivered and scored once"
import glob, json, re, sys
d = sys.argv[1]
ids = open(d + "/ids").read().split()
redelivered = 0
for id in ids:
    evs = json.load(open(f"{d}/events-{id}.json"))
    scored = [e for e in evs if e["event"] == "hero_scored"]
    assert len(scored) == 1, f"{id}: scored {len(scored)} times"
    if any(e["event"] == "mission_started" and e["detail"] == "redelivered" for e in evs):
        redelivered += 1
        assert scored[0]["service"].startswith("store:"), scored[0]
assert redelivered >= 1, "no mission shows a redelivery"
board = json.load(open(d + "/board.json"))
assert sum(h["missions"] for h in board) == len(ids), board
m = re.search(r"^palantir_redeliveries_total (\d+)", open(d + "/metrics.txt").read(), re.M)
assert m and int(m.group(1)) >= redelivered, "metrics count %s redeliveries, events %d" % (m and m.group(1), redelivered)
print(f"redis: {len(ids)} SUCCESS, {redelivered} redelivered after the kill, each scored once; /metrics agrees")
PY

# --- 3. Side by side: the same seed on two backends ----------------------
# A queue of its own: part 2's rescuer still consumes $queue, and would
# write these missions' outcomes to part 2's store.
serve "$work/side-inproc"; left=$url
serve "$work/side-rabbitmq" --backend rabbitmq --queue "$queue-side" --workers 2; right=$url
body='{"type": "fellowship", "speed": 20, "fail_rate": 0.5, "seed": 7}'
launch "$left" "$body" | ids_of >"$work/side-inproc/ids"
launch "$right" "$body" | ids_of >"$work/side-rabbitmq/ids"
until_all_final "$left" "$work/side-inproc/ids"
until_all_final "$right" "$work/side-rabbitmq/ids"
api "$left/api/missions" >"$work/left.json"
api "$right/api/missions" >"$work/right.json"
python3 - "$work/left.json" "$work/right.json" <<'PY' || fail "side by side: the same seed gave different missions on two backends"
import json, sys
left, right = (json.load(open(p)) for p in sys.argv[1:])
# Each hero has one mission of the five (the rotation), so sorting by hero
# pairs them up. (Not by created_at: RFC 3339 strings of different lengths
# do not sort as times.)
shape = lambda ms: sorted((m["hero"], m["type"], m["attempt"], m["status"]) for m in ms)
assert shape(left) == shape(right), (shape(left), shape(right))
assert {m["backend"] for m in left} == {"inproc"} and {m["backend"] for m in right} == {"rabbitmq"}
retries = sum(m["attempt"] - 1 for m in left)
print(f"side by side: inproc and rabbitmq ran the same 5 missions with the same {retries} ambush retries")
PY
echo "lab 8 passed"
