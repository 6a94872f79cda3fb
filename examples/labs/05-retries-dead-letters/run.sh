#!/usr/bin/env bash
# Lab 5 without a human: retries with backoff, dead letters, and replaying
# them, on the embedded inproc backend. Checks, from palantir's own JSON,
# that three always-ambushed ravens end FAILURE after 2 attempts (exit 1),
# that their traces show the retry and its backoff, that `dlq list` has them
# with their reasons, and that `dlq replay` ran them again (they fail again:
# the fail rate travels with the mission) and put them back in the DLQ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
palantir() { (cd "$work" && exec "$root/bin/palantir" "$@"); }
(cd "$root" && go build -o bin/palantir ./cmd/palantir)

fail() { echo "LAB 5 FAILED: $*" >&2; exit 1; }

rc=0
palantir launch raven --count 3 --fail-rate 1 --max-attempts 2 --speed 10 --wait -o json \
  >"$work/launch.json" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "launch --wait exited $rc, expected 1 (a mission ended in FAILURE)"
palantir dlq list -o json >"$work/dlq.json"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$work/launch.json")
palantir trace "$id" -o json >"$work/trace.json"

python3 - "$work" <<'PY' || fail "the retries and dead letters are not as described"
import json, sys, os
d = sys.argv[1]
ms = json.load(open(os.path.join(d, "launch.json")))
assert [(m["status"], m["attempt"], m["max_attempts"]) for m in ms] == [("FAILURE", 2, 2)] * 3, ms
assert all(m["error"].startswith("orc ambush at") for m in ms)
dead = json.load(open(os.path.join(d, "dlq.json")))
assert {x["id"] for x in dead} == {m["id"] for m in ms}, "dlq list does not hold the three missions"
assert all(x["reason"].startswith("failed after 2 attempts: orc ambush") for x in dead), [x["reason"] for x in dead]
steps = json.load(open(os.path.join(d, "trace.json")))["steps"]
ev = [s["event"] for s in steps]
retry = steps[ev.index("mission_retry")]
assert retry["detail"].endswith("attempt 2 in 100ms"), retry["detail"]   # 1s backoff at --speed 10
second = [s for s in steps if s["event"] == "mission_started" and s["attempt"] == 2]
assert len(second) == 1 and second[0]["since_prev_ms"] >= 90, second   # it waited for the backoff
assert ev[-1] == "mission_dead_lettered", ev[-1]
print(f'{retry["detail"]}; attempt 2 started {second[0]["since_prev_ms"]:.0f}ms after it was queued')
PY

rc=0
palantir dlq replay -o json >"$work/replay.json" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "dlq replay exited $rc, expected 1 (the replayed missions fail again)"
palantir dlq list -o json >"$work/dlq2.json"
for m in $(python3 -c 'import json,sys; print(" ".join(m["id"] for m in json.load(open(sys.argv[1]))))' "$work/launch.json"); do
  palantir events --mission "$m" --limit 0 -o json >"$work/events-$m.json"
done
python3 - "$work" <<'PY' || fail "the replay did not happen as described"
import json, sys, os
d = sys.argv[1]
before = {m["id"]: m for m in json.load(open(os.path.join(d, "launch.json")))}
after = json.load(open(os.path.join(d, "replay.json")))
assert {m["id"] for m in after} == set(before), "replay did not return the three missions"
for m in after:
    assert (m["status"], m["attempt"]) == ("FAILURE", 2), (m["status"], m["attempt"])
    assert m["error"] == before[m["id"]]["error"], "same seed, same ambush: the error should repeat"
    ev = json.load(open(os.path.join(d, f'events-{m["id"]}.json')))
    replayed = [e for e in ev if e["event"] == "mission_queued" and e["detail"] == "replayed from the dead letters"]
    assert len(replayed) == 1, f'{m["id"]}: {len(replayed)} replay events'
    assert [e["event"] for e in ev].count("mission_dead_lettered") == 2
assert {x["id"] for x in json.load(open(os.path.join(d, "dlq2.json")))} == set(before), "not back in the DLQ"
PY
echo "lab 5 OK: 3 missions retried with backoff, dead-lettered, replayed, and dead-lettered again"
