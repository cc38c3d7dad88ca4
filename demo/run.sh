#!/usr/bin/env bash
# The demo: a sample Go service on :8080 with a little load, under Sonde,
# printing traces and serving Prometheus metrics on :9400, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${DEMO_PORT:-8080}
METRICS_PORT=${DEMO_METRICS_PORT:-9400}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

(cd demo && GOCACHE="$work/gocache" GOPATH="$work/gopath" GO111MODULE=off \
	go build -o "$work/demo-service" server.go)
"$work/demo-service" ":$PORT" &
pids+=($!)

PRINT_TRACES=true OPEN_PORT=$PORT SONDE_PROMETHEUS_PORT=$METRICS_PORT ./build/sonde &
pids+=($!)
sleep 2
echo "demo: traces below; metrics at http://localhost:$METRICS_PORT/metrics; Ctrl-C stops" >&2

# A little load: several paths, statuses, a POST body and slow requests.
(
	while true; do
		curl -s -o /dev/null "http://localhost:$PORT/hello"
		curl -s -o /dev/null "http://localhost:$PORT/users/42?status=404"
		curl -s -o /dev/null -X POST -d "abcdef" "http://localhost:$PORT/post?delay=200ms"
		curl -s -o /dev/null "http://localhost:$PORT/fail?status=500"
		sleep 1
	done
) &
pids+=($!)
wait "${pids[1]}"
