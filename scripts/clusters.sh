#!/usr/bin/env bash
# Starts (or stops) the private clusters the cluster tests use, on
# loopback ports, in a directory of their own, to try palantir on them by
# hand. The script never touches the shared servers (6379, 5672, 4222);
# the RabbitMQ URL it prints is the shared broker's, with a quorum queue.
#
#   Redis Cluster: three masters on 7001-7003 (bus 17001-17003), no
#                  replicas, AOF fsynced on every write
#   NATS:          three JetStream servers n0-n2 on 4231-4233 (routes
#                  6231-6233, monitoring 8231-8233)
#   RabbitMQ:      the shared broker with ?queue_type=quorum (a quorum
#                  queue on one node: the quorum code path, not a cluster)
#
# Usage: scripts/clusters.sh start|stop|urls
# Then, for example:
#   go run ./cmd/palantir bench --backends "$(scripts/clusters.sh urls | paste -sd, -)" --missions 5000 -c 4
#   go run ./cmd/palantir worker --backend "$(scripts/clusters.sh urls | head -1)"
set -euo pipefail
dir=${PALANTIR_CLUSTERS_DIR:-${TMPDIR:-/tmp}/palantir-clusters}
redis_ports=(7001 7002 7003)
nats_ports=(4231 4232 4233)

urls() {
	echo "redis://127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003"
	echo "amqp://guest:guest@127.0.0.1:5672/?queue_type=quorum"
	echo "nats://127.0.0.1:4231?replicas=3"
}

start() {
	if [ -d "$dir" ]; then
		echo "$dir exists: already started? (scripts/clusters.sh stop)" >&2
		exit 1
	fi
	mkdir -p "$dir"
	for p in "${redis_ports[@]}"; do
		mkdir -p "$dir/redis-$p"
		redis-server --bind 127.0.0.1 --port "$p" --dir "$dir/redis-$p" --daemonize no \
			--cluster-enabled yes --cluster-port $((p + 10000)) --cluster-config-file nodes.conf \
			--cluster-node-timeout 2000 --save "" --appendonly yes --appendfsync always \
			>"$dir/redis-$p/log" 2>&1 &
		echo $! >"$dir/redis-$p.pid"
	done
	for p in "${redis_ports[@]}"; do
		for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
	done
	redis-cli --cluster create 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 --cluster-yes >"$dir/redis-create.log"
	for p in "${redis_ports[@]}"; do
		for _ in $(seq 300); do redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
	done
	for i in 0 1 2; do
		p=${nats_ports[$i]}
		routes=()
		for j in 0 1 2; do [ "$j" != "$i" ] && routes+=("nats://127.0.0.1:$((6231 + j))"); done
		nats-server -a 127.0.0.1 -p "$p" -n "n$i" -m $((8231 + i)) -js -sd "$dir/nats-n$i" \
			--cluster_name palantir-try --cluster "nats://127.0.0.1:$((6231 + i))" \
			--routes "$(IFS=,; echo "${routes[*]}")" >"$dir/nats-n$i.log" 2>&1 &
		echo $! >"$dir/nats-n$i.pid"
	done
	for _ in $(seq 300); do
		curl -s http://127.0.0.1:8231/jsz | grep -q '"leader"' && break
		sleep 0.1
	done
	echo "started in $dir:" >&2
	urls
}

stop() {
	[ -d "$dir" ] || exit 0
	for f in "$dir"/*.pid; do
		[ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
	done
	sleep 0.5
	rm -rf "$dir"
}

case ${1:-} in
start) start ;;
stop) stop ;;
urls) urls ;;
*)
	echo "usage: $0 start|stop|urls" >&2
	exit 2
	;;
esac
