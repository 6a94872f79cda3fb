#!/usr/bin/env bash
# Lab 3 without a human: the same batch of eight missions on RabbitMQ, run
# by one worker with --concurrency 1 (prefetch 1) and then --concurrency 4
# (prefetch 4). Checks, from the missions' own started_at/finished_at, that
# all succeeded, that with prefetch 1 no two missions ever overlapped, that
# with prefetch 4 several did, and that the batch finished sooner.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
cd "$work"   # palantir.db, the SQLite store, goes here
queue="lab3-$$-$RANDOM"
pids=()
bin="$root/bin/palantir"
flags=(--backend rabbitmq --queue "$queue")
# Best effort: also delete this run's queues (Q, Q.dead, Q.retry.*) from the
# shared broker, where rabbitmqctl is allowed to (root or the rabbitmq user).
drop_queues() {
  command -v rabbitmqctl >/dev/null || return 0
  local q qs
  qs=$(timeout 20 rabbitmqctl list_queues -q name </dev/null 2>/dev/null | grep -E "^$queue(\.|\$)") || return 0
  for q in $qs; do timeout 20 rabbitmqctl delete_queue -q "$q" </dev/null >/dev/null 2>&1 & done
  wait
}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$bin" "${flags[@]}" purge --yes >/dev/null 2>&1 || true
  drop_queues
  cd / && rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o bin/palantir ./cmd/palantir)
# Foreground commands; background ones run "$bin" itself, so that $! is its pid.
palantir() { "$bin" "${flags[@]}" "$@"; }

fail() { echo "LAB 3 FAILED: $*" >&2; exit 1; }

palantir doctor >/dev/null 2>&1 || fail "RabbitMQ is not reachable (see: palantir doctor --backend rabbitmq)"

# One round: publish 8 consult missions (same seed, so the same durations),
# then one worker with --concurrency C drains exactly those 8 and exits.
round() {
  local c=$1
  palantir launch consult --count 8 --speed 10 --seed 7 --fail-rate 0 >"$work/ids-$c.txt" 2>/dev/null
  timeout 120 "$bin" "${flags[@]}" \
    worker --name "prefetch$c" --concurrency "$c" --max-missions 8 --quiet 2>"$work/worker-$c.log" & pids+=($!)
  wait "${pids[-1]}" || fail "the worker with --concurrency $c did not finish its 8 missions (log: $(tail -1 "$work/worker-$c.log"))"
  # shellcheck disable=SC2046
  palantir status $(cat "$work/ids-$c.txt") -o json >"$work/round-$c.json"
}
round 1
round 4

python3 - "$work" <<'PY' || fail "prefetch did not change the parallelism as described"
import json, sys, os
from datetime import datetime
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
def measure(c):
    ms = json.load(open(os.path.join(sys.argv[1], f"round-{c}.json")))
    assert len(ms) == 8 and {m["status"] for m in ms} == {"SUCCESS"}, [m["status"] for m in ms]
    assert {m["worker"] for m in ms} == {f"prefetch{c}"}
    iv = [(t(m["started_at"]), t(m["finished_at"])) for m in ms]
    # peak overlap: the most missions in flight at one instant
    peak = max(sum(s <= a < f for s, f in iv) for a, _ in iv)
    span = max(f for _, f in iv) - min(s for s, _ in iv)
    return peak, span
p1, s1 = measure(1)
p4, s4 = measure(4)
print(f"--concurrency 1: at most {p1} mission(s) at once, batch took {s1:.2f}s")
print(f"--concurrency 4: at most {p4} mission(s) at once, batch took {s4:.2f}s")
assert p1 == 1, "prefetch 1 ran missions in parallel"
assert p4 >= 2, "prefetch 4 never ran two missions at once"
assert s4 < s1, "prefetch 4 was not faster"
PY
echo "lab 3 OK: same 8 missions on RabbitMQ; prefetch 4 overlapped them, prefetch 1 did not"
