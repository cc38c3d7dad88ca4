#!/usr/bin/env bash
# Installs everything Sonde's build, demo and tests need on Debian 12, and
# prepares the kernel interfaces. Idempotent; run as root. Reaches only
# Debian's package archive, the npm registry, the Go module proxy (the gRPC
# peer's modules) and Maven Central (one Maven build of seed 002's Spring
# Boot service).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (sudo ./scripts/setup.sh)" >&2
	exit 1
fi

packages=(
	# build: compiler for the BPF side, libbpf + skeletons, and the
	# libraries the agent links (see README "Libraries")
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc
	libmicrohttpd-dev libgnutls28-dev libcrypt-dev libyaml-dev libcurl4-openssl-dev libprotobuf-c-dev
	protobuf-c-compiler
	libcapstone-dev libdw-dev # Go binary inspection (src/gobin/): RETs, DWARF offsets
	libnghttp2-dev # HPACK: HTTP/2 and gRPC header blocks (src/decode/http2.c)
	# tests: unit-test framework, fuzzer runtime, real peers and consumers
	libcmocka-dev libclang-rt-14-dev
	python3 python3-pytest python3-requests python3-flask
	golang-go golang-1.19-go binutils openjdk-17-jdk-headless nginx-light prometheus
	wrk curl jq iproute2 procps
	openssl # the OTLP and TLS tests' certificates
	libssl-dev # the TLS unit test builds programs with OpenSSL linked in (tests/unit/test_probes_tls.c)
	libcapstone-dev # x86 decoding: where TLS uprobes go (src/tls_hookpoints.c)
	util-linux systemd # setpriv (the non-root runs), systemd-analyze (packaging/sonde.service)
	xxd # embeds the live view's files (ui/) in the binary (scripts/embed_ui.sh)
	chromium python3-websocket # the live view's browser test (tests/e2e/test_ui.py)
	# database servers and clients of tests/e2e/test_db.py
	postgresql mariadb-server python3-psycopg2 python3-pymysql libdbd-pg-perl
	maven # builds seed 002's Spring Boot user service (tests/e2e/test_lab_002.py)
	# HTTP/2 and gRPC peers of tests/e2e/test_grpc.py
	python3-grpcio nghttp2-client
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node.js: keep a newer one if the machine has it, else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
fi

# Debian's prometheus package starts a server on :9090 where an init system
# runs; the tests start their own and need nothing from it.

# npm packages of the end-to-end tests' servers.
for dir in tests/e2e/servers/express tests/e2e/servers/db tests/e2e/servers/lab/point-service \
	tests/e2e/servers/grpc \
	tests/e2e/otlp_receiver; do
	if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules" ]; then
		(cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
	fi
done

# Go modules of the gRPC peer (tests/e2e/servers/grpc/go), from the Go module
# proxy into the module cache: the test builds it offline.
if [ -x /usr/local/go/bin/go ]; then
	(cd tests/e2e/servers/grpc/go && GOTOOLCHAIN=local /usr/local/go/bin/go mod download)
fi

# Seed 002's Spring Boot user service, built once (Maven Central) into
# tests/e2e/servers/lab/user-service/target/user-service.jar.
lab_jar=tests/e2e/servers/lab/user-service/target/user-service.jar
if [ ! -f "$lab_jar" ] || [ tests/e2e/servers/lab/user-service/pom.xml -nt "$lab_jar" ] ||
	[ -n "$(find tests/e2e/servers/lab/user-service/src -newer "$lab_jar" -type f)" ]; then
	(cd tests/e2e/servers/lab/user-service && mvn -q -B -Dstyle.color=never package -DskipTests)
fi

# Kernel interfaces a fresh machine lacks: tracefs for the benchmark's perf
# counts (Sonde itself needs no tracefs: its programs are BTF tracepoints).
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true
echo "setup.sh: ready"
