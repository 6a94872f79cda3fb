#!/usr/bin/env bash
# Pushes EVENTS telemetry events (default 1,000,000) through one
# `palantir serve` (inproc, 8 embedded workers, SQLite) while one client
# reads the event stream and another connects and never reads, and prints
# serve's resident memory as it goes: the server's memory must stay flat
# however long it runs.
# Usage: scripts/serve-soak.sh [EVENTS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:-1000000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
(cd "$root" && go build -o "$work/palantir" ./cmd/palantir)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
cd "$work"
./palantir serve --addr "127.0.0.1:$port" --workers 8 >serve.log 2>&1 & serve=$!; pids+=($serve)
for _ in $(seq 100); do curl -s -o /dev/null "$url/healthz" && break; sleep 0.1; done
curl -sN "$url/api/events/stream" >/dev/null & pids+=($!)
python3 -c 'import socket, time, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b"GET /api/events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(100000)' "$port" & pids+=($!)
rss() { awk '/VmRSS/ {print $2}' /proc/$serve/status; }
hwm() { awk '/VmHWM/ {print $2}' /proc/$serve/status; }
events() { curl -s "$url/metrics" | awk '/^palantir_events_total/ {n += $2} END {print n + 0}'; }
start=$SECONDS
echo "seconds  events  events/s  rss_MB"
last=0 lastt=$SECONDS
while :; do
  n=$(events)
  [ "$n" -ge "$target" ] && break
  queued=$(curl -s "$url/api/status" | python3 -c 'import json,sys; print(sum(r.get("ready") or 0 for r in json.load(sys.stdin) if r["group"] == "queue"))')
  if [ "$queued" -lt 2000 ]; then
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
      -d '{"type": "raven", "count": 1000, "speed": 100, "fail_rate": 0.1}' "$url/api/missions"
  fi
  sleep 5
  now=$SECONDS
  printf '%7d  %7d  %8d  %6d\n' $((now - start)) "$n" $(( (n - last) / (now - lastt) )) $(( $(rss) / 1024 ))
  last=$n lastt=$now
done
echo "events: $(events) in $((SECONDS - start)) s; serve RSS now $(( $(rss) / 1024 )) MB, peak $(( $(hwm) / 1024 )) MB"
