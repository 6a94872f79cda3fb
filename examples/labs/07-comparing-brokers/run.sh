#!/usr/bin/env bash
# Lab 7 without a human: a small bench on all six backends, checked from its
# own JSON: nothing lost or duplicated, nobody above its ceiling, the store
# the main cost on inproc, and a self-contained HTML report.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "LAB 7 FAILED: $*" >&2; exit 1; }
(cd "$root" && go build -o bin/palantir ./cmd/palantir)
palantir() { (cd "$work" && "$root/bin/palantir" "$@"); }

pg="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
palantir bench --backends "inproc,redis,rabbitmq,nats,sqlite,$pg" --missions 1500 --concurrency 4 \
	--report "$work/bench.html" -o json > "$work/store.json" 2>"$work/store.err" ||
	fail "bench exited $? ($(tail -1 "$work/store.err"))"
palantir bench --backends inproc --missions 1500 --concurrency 4 --store none -o json \
	> "$work/none.json" 2>/dev/null || fail "bench --store none exited $?"

python3 - "$work" <<'PY' || fail "the comparison does not hold"
import json, os, sys
d = sys.argv[1]
rows = json.load(open(os.path.join(d, "store.json")))
none = json.load(open(os.path.join(d, "none.json")))
assert [r["backend"] for r in rows] == ["inproc", "redis", "rabbitmq", "nats", "sqlite", "postgres"], [r["backend"] for r in rows]
for r in rows + none:
    assert not r.get("error"), r["error"]
    assert r["lost"] == 0 and r["duplicates"] == 0, (r["backend"], r["lost"], r["duplicates"])
    assert 0 < r["missions_per_sec"] <= r["ceiling_msgs_per_sec"], (r["backend"], r["missions_per_sec"], r["ceiling_msgs_per_sec"])
    e = r["end_to_end_ms"]
    assert e["p50"] <= e["p95"] <= e["p99"] <= e["max"], e
with_store = rows[0]["missions_per_sec"]
without = none[0]["missions_per_sec"]
assert without > 2 * with_store, f"inproc without the store {without:.0f}/s is not clearly faster than with it {with_store:.0f}/s"
html = open(os.path.join(d, "bench.html")).read()
assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", ""), "report is not self-contained"
for r in rows:
    print(f'  {r["backend"]:9} {r["missions_per_sec"]:8.0f} missions/s  ceiling {r["ceiling_msgs_per_sec"]:10.0f}/s  lost {r["lost"]}')
print(f'  inproc without the store: {without:.0f} missions/s')
PY
echo "lab 7 OK: six backends measured against their ceilings, nothing lost, the store is inproc's main cost"
