#!/usr/bin/env bash
# Installs everything Sonde's build, demo and tests need on Debian 12, and
# prepares the kernel interfaces. Idempotent; run as root. Reaches only
# Debian's package archive (Debian 11's OpenSSL 1.1 too), the npm registry,
# the Go module proxy (the gRPC peer's modules, Go 1.17's toolchain) and
# Maven Central (one Maven build of seed 002's Spring Boot service).
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
	unzip # Go 1.17's toolchain (below)
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

# The gRPC peer in Java (tests/e2e/servers/grpc/java: grpc-java from Maven
# Central), built once into target/grpcpeer.jar with its dependencies.
grpc_jar=tests/e2e/servers/grpc/java/target/grpcpeer.jar
if [ ! -f "$grpc_jar" ] || [ tests/e2e/servers/grpc/java/pom.xml -nt "$grpc_jar" ] ||
	[ -n "$(find tests/e2e/servers/grpc/java/src -newer "$grpc_jar" -type f)" ]; then
	(cd tests/e2e/servers/grpc/java && mvn -q -B -Dstyle.color=never package -DskipTests)
fi

# OpenSSL 1.1 for the TLS tests (libssl.so.1.1 and its `openssl` command):
# Debian 12 has none, so Debian 11's packages are fetched from Debian's
# archive, checked against their SHA256 and unpacked with dpkg-deb into
# /var/cache/sonde/openssl-1.1 -- never installed, so the suites do not mix.
# tests/unit/test_probes_tls.c and tests/e2e/test_tls.py read them there.
ssl11_dir=/var/cache/sonde/openssl-1.1
ssl11_pool=http://deb.debian.org/debian/pool/main/o/openssl
ssl11_debs=(
	"libssl1.1_1.1.1w-0+deb11u1_amd64.deb aadf8b4b197335645b230c2839b4517aa444fd2e8f434e5438c48a18857988f7"
	"openssl_1.1.1w-0+deb11u1_amd64.deb 04873d74cbe86bad3a9901f6e57f1150040eba9891b443c5c975a72a97238e35"
)
if [ "$(dpkg --print-architecture)" = amd64 ] && [ ! -f "$ssl11_dir/.unpacked" ]; then
	mkdir -p "$ssl11_dir/debs" "$ssl11_dir/root"
	for entry in "${ssl11_debs[@]}"; do
		deb=${entry% *} sum=${entry#* }
		if ! echo "$sum  $ssl11_dir/debs/$deb" | sha256sum -c --quiet >/dev/null 2>&1; then
			curl -fsSL -o "$ssl11_dir/debs/$deb.part" "$ssl11_pool/$deb"
			echo "$sum  $ssl11_dir/debs/$deb.part" | sha256sum -c --quiet ||
				{ echo "setup.sh: $deb: SHA256 mismatch" >&2; exit 1; }
			mv "$ssl11_dir/debs/$deb.part" "$ssl11_dir/debs/$deb"
		fi
		dpkg-deb -x "$ssl11_dir/debs/$deb" "$ssl11_dir/root"
	done
	touch "$ssl11_dir/.unpacked"
fi

# Go 1.17 for the Go TLS tests (the Makefile's gotls-1.17 fixtures): the
# first Go with the register ABI on amd64, which Debian never shipped. The
# Go module proxy serves it as a toolchain module, a zip whose one directory
# is a GOROOT; fetched once, checked against its SHA256 and unpacked (without
# the race detector's packages) into /var/cache/sonde/go1.17/go, then the
# zip is dropped.
go117_dir=/var/cache/sonde/go1.17
go117_zip=v0.0.1-go1.17.13.linux-amd64.zip
go117_sum=86140ce9ebcb5ee40240ca258ee58ebf1ab24ff1e179f672bbb248590daf23ee
if [ "$(dpkg --print-architecture)" = amd64 ] && [ ! -f "$go117_dir/.unpacked" ]; then
	mkdir -p "$go117_dir"
	curl -fsSL -o "$go117_dir/$go117_zip.part" \
		"https://proxy.golang.org/golang.org/toolchain/@v/$go117_zip"
	echo "$go117_sum  $go117_dir/$go117_zip.part" | sha256sum -c --quiet ||
		{ echo "setup.sh: $go117_zip: SHA256 mismatch" >&2; exit 1; }
	rm -rf "$go117_dir/go" "$go117_dir/unzip"
	unzip -q "$go117_dir/$go117_zip.part" -d "$go117_dir/unzip" -x '*/pkg/linux_amd64_race/*'
	mv "$go117_dir/unzip/golang.org/toolchain@${go117_zip%.zip}" "$go117_dir/go"
	chmod +x "$go117_dir"/go/bin/* "$go117_dir"/go/pkg/tool/linux_amd64/*
	rm -rf "$go117_dir/unzip" "$go117_dir/$go117_zip.part"
	touch "$go117_dir/.unpacked"
fi

# Kernel interfaces a fresh machine lacks: tracefs for the benchmark's perf
# counts (Sonde itself needs no tracefs: its programs are BTF tracepoints).
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true
echo "setup.sh: ready"
