#!/usr/bin/env bash
# The demo: a sample Go service on :8080 calling a second one on :8081,
# with a little load, under Sonde, printing traces, serving Prometheus
# metrics (with span and service-graph metrics) on :9400 and the live view
# on http://localhost:9500/, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${DEMO_PORT:-8080}
METRICS_PORT=${DEMO_METRICS_PORT:-9400}
UI_PORT=${DEMO_UI_PORT:-9500}
DOWN_PORT=${DEMO_DOWN_PORT:-8081}
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
OTEL_SERVICE_NAME=demo-frontend "$work/demo-service" ":$PORT" &
pids+=($!)
OTEL_SERVICE_NAME=demo-backend "$work/demo-service" ":$DOWN_PORT" &
pids+=($!)

PRINT_TRACES=true OPEN_PORT=$PORT,$DOWN_PORT SONDE_PROMETHEUS_PORT=$METRICS_PORT \
	SONDE_UI_PORT=$UI_PORT SONDE_SPAN_METRICS=true SONDE_SERVICE_GRAPH_METRICS=true \
	./build/sonde &
pids+=($!)
sonde_index=$((${#pids[@]} - 1))
sleep 2
echo "demo: LOOK HERE -> open http://127.0.0.1:$UI_PORT/ in a browser for the live view" \
	"(services, service graph, traces); traces print below; metrics at" \
	"http://localhost:$METRICS_PORT/metrics; Ctrl-C stops" >&2

# A little load: several paths, statuses, a POST body and slow requests.
(
	while true; do
		curl -s -o /dev/null "http://localhost:$PORT/hello"
		curl -s -o /dev/null "http://localhost:$PORT/orders/7?down=$DOWN_PORT"
		curl -s -o /dev/null "http://localhost:$PORT/orders/9?down=$DOWN_PORT&status=503"
		curl -s -o /dev/null "http://localhost:$PORT/users/42?status=404"
		curl -s -o /dev/null -X POST -d "abcdef" "http://localhost:$PORT/post?delay=200ms"
		curl -s -o /dev/null "http://localhost:$PORT/fail?status=500"
		sleep 1
	done
) &
pids+=($!)
wait "${pids[$sonde_index]}"
