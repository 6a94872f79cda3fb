#!/usr/bin/env bash
# Measures palantir against its peers on this machine, back to back, and
# prints a Markdown table (issue 12):
#
#   1. palantir bench --backends redis -c 4 with a PostgreSQL store (a
#      scratch database created here and dropped afterwards), then River
#      tuned as its own benchmark on the same PostgreSQL server;
#   2. palantir bench --backends redis -c 4 with the default (temporary
#      SQLite) store, then asynq on the same Redis (scratch database 15).
#
# The peers are measured by bench/peers (a Go module of its own, so
# palantir's go.mod and binary do not carry them); nothing is copied from
# elsewhere. Progress goes to stderr, the table to stdout.
#
# Usage: scripts/peers.sh [N]          (N missions and jobs each, default 10000)
# Env:   PALANTIR_PEERS_PG     PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#        PALANTIR_PEERS_REDIS  Redis database for asynq, not 0 (default redis://127.0.0.1:6379/15)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10000}
pg=${PALANTIR_PEERS_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
redis=${PALANTIR_PEERS_REDIS:-redis://127.0.0.1:6379/15}
work=$(mktemp -d)
store_db=palantir_peers_store_$$
cleanup() {
	psql -q "$pg" -c "DROP DATABASE IF EXISTS $store_db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
log() { printf '== %s\n' "$*" >&2; }

log "building palantir and peerbench"
(cd "$root" && go build -o "$work/palantir" ./cmd/palantir)
(cd "$root/bench/peers" && go build -o "$work/peerbench" ./cmd/peerbench)

# The store's scratch database: the server's URL with another database name.
psql -q "$pg" -c "CREATE DATABASE $store_db" >/dev/null
store=$(printf '%s' "$pg" | sed -E "s#^([a-z]+://[^/]+)/[^?]*#\1/$store_db#")
shown_store=$(printf '%s' "$store" | sed -E "s#/$store_db#/SCRATCH#")

# run NAME CMD...: runs CMD with stdout to $work/NAME.json, stderr to the terminal.
run() {
	local name=$1; shift
	log "$name: $*"
	"$@" -o json >"$work/$name.json"
}
field() { jq -r ".[0].$2" "$work/$1.json"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run pal_pg "$work/palantir" bench --backends redis --missions "$n" -c 4 --store "$store"
run river "$work/peerbench" --peer river --jobs "$n" --pg "$pg"
run pal_sqlite "$work/palantir" bench --backends redis --missions "$n" -c 4
run asynq "$work/peerbench" --peer asynq --jobs "$n" --redis "$redis"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

row() { # bar, palantir json, peer json, palantir command, peer command
	local p q
	p=$(field "$2" missions_per_sec)
	q=$(field "$3" jobs_per_sec)
	printf '| %s | %.0f | %.0f | %.2f | %s / %s | `%s` | `%s` |\n' "$1" "$p" "$q" \
		"$(jq -n "$p / $q")" "$(field "$2" lost)" "$(field "$3" lost)" "$4" "$5"
}
echo "On $(date -u +%Y-%m-%d) at $(date -u +%H:%M) UTC, $(nproc) cores, load average $load_before before and $load_after after; $n missions and jobs each."
echo
echo "| bar | palantir missions/s | peer jobs/s | palantir ÷ peer | lost (palantir / peer) | palantir command | peer command |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
row "PostgreSQL store (redis backend) vs River tuned" pal_pg river \
	"palantir bench --backends redis --missions $n -c 4 --store $shown_store" \
	"go -C bench/peers run ./cmd/peerbench --peer river --jobs $n"
row "redis + SQLite store vs asynq" pal_sqlite asynq \
	"palantir bench --backends redis --missions $n -c 4" \
	"go -C bench/peers run ./cmd/peerbench --peer asynq --jobs $n"
echo
echo "Peers as run: River $(field river settings), $(field river insert); asynq $(field asynq settings), $(field asynq insert)."
