#!/usr/bin/env bash
# Starts a single-node skein serve on a free loopback port with a fresh data
# directory, runs the skein bench workloads against it, prints one JSON
# result line per workload, and stops the broker. BOOTSTRAP=host:port runs
# the workloads against an already running Kafka-compatible broker instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/skein}
RECORDS=${RECORDS:-500000}
SIZE=${SIZE:-1024}

pid=""
dir=""
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	[ -z "$dir" ] || rm -rf "$dir"
}
trap cleanup EXIT

if [ -z "${BOOTSTRAP:-}" ]; then
	dir=$(mktemp -d)
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
	"$BIN" serve --data-dir "$dir/data" --listeners "PLAINTEXT://127.0.0.1:$port" 2>"$dir/serve.log" &
	pid=$!
	BOOTSTRAP=127.0.0.1:$port
	for _ in $(seq 1 100); do
		if "$BIN" topic list --bootstrap "$BOOTSTRAP" >/dev/null 2>&1; then break; fi
		sleep 0.1
	done
fi
B=(--bootstrap "$BOOTSTRAP")
echo "# produce, acks=all, 1 partition, ${SIZE} B records"
"$BIN" bench produce "${B[@]}" --topic bench-p1 --partitions 1 --acks all --record-size "$SIZE" --records "$RECORDS" --progress 0 2>/dev/null
echo "# produce, acks=all, 8 partitions"
"$BIN" bench produce "${B[@]}" --topic bench-p8 --partitions 8 --acks all --record-size "$SIZE" --records "$RECORDS" --progress 0 2>/dev/null
echo "# produce, acks=1, 8 partitions"
"$BIN" bench produce "${B[@]}" --topic bench-p8a1 --partitions 8 --acks 1 --record-size "$SIZE" --records "$RECORDS" --progress 0 2>/dev/null
echo "# consume from the 8-partition topic"
"$BIN" bench consume "${B[@]}" --topic bench-p8 --progress 0 2>/dev/null
echo "# end-to-end latency at 5000 records/s"
"$BIN" bench e2e "${B[@]}" --topic bench-e2e --partitions 1 --rate 5000 --duration 10s --record-size "$SIZE" --progress 0 2>/dev/null
if [ -n "$pid" ]; then
	echo "# broker peak RSS (kB): $(grep VmHWM /proc/$pid/status | awk '{print $2}')"
fi
