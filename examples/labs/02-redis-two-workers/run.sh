#!/usr/bin/env bash
# Lab 2 without a human: two `palantir worker` processes on Redis share one
# batch of missions. Checks, from palantir's own JSON, that both workers
# executed missions, that `history --worker` agrees with the launch, and
# that `status` listed both workers as live (one of them on a mission)
# while they ran.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
cd "$work"   # palantir.db, the SQLite store, goes here
queue="lab2-$$-$RANDOM"
pids=()
bin="$root/bin/palantir"
flags=(--backend redis --queue "$queue")
# Best effort: delete this run's (empty) Redis keys too; purge leaves the stream.
drop_keys() {
  command -v redis-cli >/dev/null || return 0
  timeout 10 redis-cli -u "${PALANTIR_REDIS_URL:-redis://127.0.0.1:6379/0}" \
    DEL "palantir:{$queue}" "palantir:{$queue}:delayed" "palantir:{$queue}:dead" >/dev/null 2>&1 || true
}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$bin" "${flags[@]}" purge --yes >/dev/null 2>&1 || true
  drop_keys
  cd / && rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o bin/palantir ./cmd/palantir)
# Foreground commands; background ones run "$bin" itself, so that $! is its pid.
palantir() { "$bin" "${flags[@]}" "$@"; }

fail() { echo "LAB 2 FAILED: $*" >&2; exit 1; }

palantir doctor >/dev/null 2>&1 || fail "Redis is not reachable at ${PALANTIR_REDIS_URL:-redis://127.0.0.1:6379/0} (see: palantir doctor --backend redis)"

# Two workers, in the background, as two terminals would run them.
"$bin" "${flags[@]}" worker --name eagle1 2>"$work/eagle1.log" & pids+=($!)
"$bin" "${flags[@]}" worker --name eagle2 2>"$work/eagle2.log" & pids+=($!)

# Wait until both have announced themselves (their first heartbeat).
live() { palantir status -o json | python3 -c 'import json,sys; print(" ".join(sorted(r["key"] for r in json.load(sys.stdin) if r["group"]=="live_worker")))'; }
for _ in $(seq 100); do [ "$(live)" = "eagle1 eagle2" ] && break; sleep 0.1; done
[ "$(live)" = "eagle1 eagle2" ] || fail "the two workers did not show up as live in status (got: '$(live)')"

# Nine missions, followed to the end in the background.
"$bin" "${flags[@]}" launch recon consult raven --count 3 --speed 5 --fail-rate 0 --wait -o json \
  >"$work/launch.json" 2>"$work/launch.log" &
launcher=$!; pids+=($launcher)

# While they run, take snapshots of status.
i=0
while kill -0 "$launcher" 2>/dev/null; do
  palantir status -o json >"$work/status-$i.json" 2>/dev/null || true
  i=$((i + 1)); sleep 0.1
done
wait "$launcher" || fail "launch --wait did not succeed (see the mission table: every mission should be SUCCESS)"

palantir history --worker eagle1 -o json >"$work/h1.json"
palantir history --worker eagle2 -o json >"$work/h2.json"

python3 - "$work" <<'PY' || fail "the two workers did not share the work as described"
import json, sys, glob, os
d = sys.argv[1]
ms = json.load(open(os.path.join(d, "launch.json")))
assert len(ms) == 9 and {m["status"] for m in ms} == {"SUCCESS"}, [m["status"] for m in ms]
by = {w: {m["id"] for m in ms if m["worker"] == w} for w in ("eagle1", "eagle2")}
assert by["eagle1"] and by["eagle2"], f"one worker did nothing: {by}"
assert by["eagle1"] | by["eagle2"] == {m["id"] for m in ms}, "a mission ran elsewhere"
for w in by:
    hist = {m["id"] for m in json.load(open(os.path.join(d, f"h{w[-1]}.json")))}
    assert hist == by[w], f"history --worker {w} disagrees: {hist} vs {by[w]}"
# status snapshots taken while the missions ran: both workers live, and at
# least one snapshot with a worker on a mission
snaps = [json.load(open(f)) for f in glob.glob(os.path.join(d, "status-*.json"))]
lives = [[r for r in s if r["group"] == "live_worker"] for s in snaps]
assert any({r["key"] for r in l} == {"eagle1", "eagle2"} for l in lives), "no snapshot with both live"
assert any(r.get("current") for l in lives for r in l), "no snapshot showed a current mission"
print(f"eagle1 ran {len(by['eagle1'])}, eagle2 ran {len(by['eagle2'])}; {len(snaps)} status snapshots")
PY
echo "lab 2 OK: two Redis workers shared 9 missions; history --worker and status agree"
