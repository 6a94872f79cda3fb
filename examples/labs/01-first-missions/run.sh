#!/usr/bin/env bash
# Lab 1 without a human: launch a fellowship on the embedded default and
# check, from palantir's own JSON, that two workers shared at least five
# missions, that every success was scored once, and that trace shows the
# stages from each service.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
palantir() { (cd "$work" && "$root/bin/palantir" "$@"); }
(cd "$root" && go build -o bin/palantir ./cmd/palantir)

fail() { echo "LAB 1 FAILED: $*" >&2; exit 1; }

palantir launch fellowship --speed 20 --fail-rate 0 --wait -o json > "$work/launch.json" 2>/dev/null
python3 - "$work/launch.json" <<'PY' || fail "the fellowship did not run as described"
import json, sys
ms = json.load(open(sys.argv[1]))
assert len(ms) >= 5, f"{len(ms)} missions"
assert {m["status"] for m in ms} == {"SUCCESS"}, [m["status"] for m in ms]
assert {m["worker"] for m in ms} == {"eagle1", "eagle2"}, {m["worker"] for m in ms}
assert len({m["type"] for m in ms}) >= 3
PY

palantir history -o json > "$work/history.json"
palantir leaderboard -o json > "$work/board.json"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$work/launch.json")
palantir trace "$id" -o json > "$work/trace.json"
python3 - "$work" <<'PY' || fail "history, leaderboard or trace disagree"
import json, sys, os
d = sys.argv[1]
launch = json.load(open(os.path.join(d, "launch.json")))
hist = json.load(open(os.path.join(d, "history.json")))
board = json.load(open(os.path.join(d, "board.json")))
trace = json.load(open(os.path.join(d, "trace.json")))
assert {m["id"] for m in hist} == {m["id"] for m in launch}
assert sum(h["points"] for h in board) == sum(m["score"] for m in launch)
services = {s["service"].split(":")[0] for s in trace["steps"]}
assert services == {"cli", "broker", "worker", "store"}, services
assert [s["event"] for s in trace["steps"]].count("hero_scored") == 1
PY
echo "lab 1 OK: two workers shared $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/launch.json") missions; every success scored once"
