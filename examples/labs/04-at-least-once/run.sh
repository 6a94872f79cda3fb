#!/usr/bin/env bash
# Lab 4 without a human: at-least-once delivery. On Redis (--lease 2s) and
# then on RabbitMQ, a worker "victim" takes three missions and is killed
# with SIGKILL in the middle of them; an idle worker "rescuer" gets them
# again. Checks, from palantir's own JSON, that every mission ends SUCCESS by
# the rescuer, that its trace has a second mission_started marked
# "redelivered", that it has exactly one hero_scored event, and that the
# leaderboard counts exactly three missions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
cd "$work"
queue="lab4-$$-$RANDOM"
pids=()
bin="$root/bin/palantir"
drop_queues() {  # best effort: delete this run's RabbitMQ queues from the shared broker
  command -v rabbitmqctl >/dev/null || return 0
  local q qs
  qs=$(timeout 20 rabbitmqctl list_queues -q name </dev/null 2>/dev/null | grep -E "^$queue(\.|\$)") || return 0
  for q in $qs; do timeout 20 rabbitmqctl delete_queue -q "$q" </dev/null >/dev/null 2>&1 & done
  wait
}
# Best effort: delete this run's (empty) Redis keys too; purge leaves the stream.
drop_keys() {
  command -v redis-cli >/dev/null || return 0
  timeout 10 redis-cli -u "${PALANTIR_REDIS_URL:-redis://127.0.0.1:6379/0}" \
    DEL "palantir:{$queue}" "palantir:{$queue}:delayed" "palantir:{$queue}:dead" >/dev/null 2>&1 || true
}
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for b in redis rabbitmq; do
    [ -d "$work/$b" ] && (cd "$work/$b" && "$bin" --backend $b --queue "$queue" purge --yes >/dev/null 2>&1 || true)
  done
  drop_queues
  drop_keys
  cd / && rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o bin/palantir ./cmd/palantir)

fail() { echo "LAB 4 FAILED: $*" >&2; exit 1; }

# One part per backend, each in its own directory (so its own palantir.db).
part() {
  local b=$1
  mkdir -p "$work/$b" && cd "$work/$b"
  local flags=(--backend "$b" --queue "$queue" --lease 2s)
  "$bin" "${flags[@]}" doctor >/dev/null 2>&1 || fail "$b is not reachable (see: palantir doctor --backend $b)"

  # The victim takes all three missions at once (--concurrency 3).
  "$bin" "${flags[@]}" worker --name victim --concurrency 3 2>victim.log & local victim=$!; pids+=($victim)
  "$bin" "${flags[@]}" launch recon --count 3 --speed 1 --fail-rate 0 >ids.txt 2>/dev/null
  # Kill it when all three are PROCESSING on it, mid-mission.
  local n=0
  for _ in $(seq 200); do
    n=$("$bin" "${flags[@]}" status $(cat ids.txt) -o json | python3 -c 'import json,sys
print(sum(m["worker"] == "victim" and m["status"] == "PROCESSING" and m["progress"] < 100 for m in json.load(sys.stdin)))')
    [ "$n" = 3 ] && break; sleep 0.05
  done
  [ "$n" = 3 ] || fail "$b: the victim never had all three missions in progress"
  # The rescuer is idle until the victim dies: nothing else is in the queue.
  "$bin" "${flags[@]}" worker --name rescuer --concurrency 3 --max-missions 3 2>rescuer.log & local rescuer=$!; pids+=($rescuer)
  for _ in $(seq 100); do
    "$bin" "${flags[@]}" status -o json | python3 -c 'import json,sys
sys.exit(not any(r["group"] == "live_worker" and r["key"] == "rescuer" for r in json.load(sys.stdin)))' && break
    sleep 0.1
  done
  date -u +%s.%N >killed_at
  # One group with stderr silenced, so that bash's "Killed" notice for the
  # victim job goes nowhere, whenever bash notices.
  { "$bin" "${flags[@]}" chaos kill --worker victim >chaos.out 2>&1; echo $? >chaos.rc; wait "$victim"; } 2>/dev/null || true
  [ "$(cat chaos.rc)" = 0 ] || fail "$b: palantir chaos kill did not kill the victim: $(cat chaos.out)"
  echo "$b: killed the victim (palantir chaos kill: SIGKILL) with 3 missions in progress"
  timeout 60 tail --pid="$rescuer" -f /dev/null || fail "$b: the rescuer did not finish the 3 missions within 60s"
  wait "$rescuer" || fail "$b: the rescuer exited with an error"

  "$bin" "${flags[@]}" status $(cat ids.txt) -o json >missions.json
  "$bin" "${flags[@]}" leaderboard -o json >board.json
  for id in $(cat ids.txt); do "$bin" "${flags[@]}" events --mission "$id" --limit 0 -o json >"events-$id.json"; done
  python3 - "$b" <<'PY' || fail "$b: the missions were not redelivered and scored once as described"
import json, sys, glob
from datetime import datetime
b = sys.argv[1]
ms = json.load(open("missions.json"))
assert [(m["status"], m["worker"]) for m in ms] == [("SUCCESS", "rescuer")] * 3, [(m["status"], m["worker"]) for m in ms]
board = json.load(open("board.json"))
assert sum(h["missions"] for h in board) == 3, f'leaderboard counts {sum(h["missions"] for h in board)} missions'
assert sum(h["points"] for h in board) == sum(m["score"] for m in ms)
killed = float(open("killed_at").read())
gaps = []
for m in ms:
    ev = json.load(open(f'events-{m["id"]}.json'))
    names = [e["event"] for e in ev]
    assert names.count("hero_scored") == 1, f'{m["id"]}: {names.count("hero_scored")} hero_scored'
    starts = [e for e in ev if e["event"] == "mission_started"]
    assert [s["service"] for s in starts] == ["worker:victim", "worker:rescuer"], [s["service"] for s in starts]
    assert starts[1]["detail"] == "redelivered", starts[1]["detail"]
    at = datetime.fromisoformat(starts[1]["at"].replace("Z", "+00:00")).timestamp()
    gaps.append(at - killed)
print(f"{b}: each mission started twice (victim, then rescuer: redelivered), scored once; "
      f"redelivered {max(0, min(gaps)):.2f}s to {max(0, max(gaps)):.2f}s after the kill")
PY
  cd "$work"
}
part redis
part rabbitmq
echo "lab 4 OK: on Redis and RabbitMQ, a SIGKILLed worker's missions were redelivered and each scored once"
