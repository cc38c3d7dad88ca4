#!/usr/bin/env bash
# Sonde overhead benchmark: nginx and Go net/http servers under wrk, with
# Sonde not running, attached but matching nothing, tracing, and the minimal
# reference agent (bench/minimal/) on sys_exit and on the socket hooks,
# alternated in one run. Prints a Markdown report and writes it to
# docs/benchmarks.md. Run as root after `make build/sonde build/bench/minimal
# build/bench/floor` (`make bench` does it all).
#
# Knobs: BENCH_PAIRS (8), BENCH_SECONDS (5), BENCH_MAX_OTHER_CPU (10),
# BENCH_EXTRA_ROUNDS (2); see bench/bench.py for the rest. Then the gRPC
# unary target (bench/grpc.py: a grpc-go server and load client), its own
# section of the report; BENCH_GRPC=0 skips it.
# Exits non-zero only when something could not run, never on the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
	echo "bench: $PY not found" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root (Sonde loads eBPF programs)" >&2
	exit 1
fi
for tool in wrk taskset nginx go; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench: $tool not found (scripts/setup.sh installs it)" >&2
		exit 1
	fi
done
# bench.py starts every process in its own session and stops them all on
# exit, error, Ctrl-C or SIGTERM; grpc.py stops its own on exit.
if [ "${BENCH_GRPC:-1}" = 0 ]; then
	exec "$PY" bench/bench.py "$@"
fi
"$PY" bench/bench.py "$@"
exec "$PY" bench/grpc.py
