"""Network flow metrics (network.enable, the "network" feature): bytes of
every TCP and UDP flow on the host, from bpf/netflow.bpf.c: TCP from the
sockets' own counts (an iterator over open files, and each socket's totals
at its close), UDP from cgroup_skb programs, attached only when UDP is
counted.

The traffic is real and stays inside two network namespaces this test
creates, joined by a veth pair with private addresses (10.200.N.1 and .2,
fd00:200:N::1 and ::2): a client in one moves a known amount to a server in
the other over TCP (10 MiB on one connection, then many small connections
with a request and a reply each) and UDP (IPv4 and IPv6 datagrams). Neither
process is traced. What Sonde counts is transport payload (IP packet minus
IP and TCP/UDP headers), so the expected bytes are what the two processes
wrote and read, which they report; each flow is counted where it leaves
(egress, at the client for client->server bytes) and where it arrives
(ingress, at the server), both on this host.
"""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Metrics, _register, free_port, kill_process_group, scrape, tail, wait_until
from otlp_receiver.harness import Receiver

BIG = 10 * 1024 * 1024
SMALL_CONNS = 60
SMALL_REQ, SMALL_RESP = 1234, 4321
BIG_RESP = 100
UDP4, UDP6, UDP_SIZE = 25, 15, 1000
CUMULATIVE = 2
N = 50 + os.getpid() % 200  # third octet: tests of other checkouts may run beside us
A4, B4 = f"10.200.{N}.1", f"10.200.{N}.2"
A6, B6 = f"fd00:200:{N}::1", f"fd00:200:{N}::2"
CIDRS = ["10.0.0.0/8", f"10.200.{N}.0/24", f"{B4}/32", "192.168.0.0/16",
         f"fd00:200:{N}::/64", "fd00::/8"]

PEER = r"""
import json, socket, struct, sys, threading, time

mode, out = sys.argv[1], sys.argv[2]
BIG, SMALL_CONNS, SMALL_REQ, SMALL_RESP, BIG_RESP, UDP4, UDP6, UDP_SIZE = map(int, sys.argv[3:11])
b4, b6 = sys.argv[11], sys.argv[12]


def read_all(c):
    n = 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            return n
        n += len(d)


def wire_bytes(c):
    # tcpi_bytes_sent (struct tcp_info, offset 200): payload bytes this
    # socket put on the wire, retransmissions included.
    return struct.unpack_from("Q", c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232), 200)[0]


if mode == "server":
    got = {"tcp_in": 0, "tcp_out": 0, "tcp_out_wire": 0, "udp4_in": 0, "udp6_in": 0}
    lock = threading.Lock()
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((b4, 5001)); ls.listen(128)
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind((b4, 5002))
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind((b6, 5002))
    for u in (u4, u6):
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    def udp(sock, key):
        while True:
            d = sock.recv(65536)
            with lock:
                got[key] += len(d)

    for s, k in ((u4, "udp4_in"), (u6, "udp6_in")):
        threading.Thread(target=udp, args=(s, k), daemon=True).start()
    print("ready", flush=True)
    conns = 0
    while conns < 1 + SMALL_CONNS:
        c, _ = ls.accept()
        n = read_all(c)
        reply = b"r" * (BIG_RESP if n == BIG else SMALL_RESP)
        c.sendall(reply)
        c.shutdown(socket.SHUT_WR)
        read_all(c)  # the peer's close: every reply byte is acknowledged
        wire = wire_bytes(c)
        c.close()
        with lock:
            got["tcp_in"] += n
            got["tcp_out"] += len(reply)
            got["tcp_out_wire"] += wire
        conns += 1
    deadline = time.time() + 5
    while time.time() < deadline:
        with lock:
            if got["udp4_in"] >= UDP4 * UDP_SIZE and got["udp6_in"] >= UDP6 * UDP_SIZE:
                break
        time.sleep(0.05)
    with lock:
        json.dump(got, open(out, "w"))
    print("done", flush=True)
else:
    sent = {"tcp_out": 0, "tcp_out_wire": 0, "tcp_in": 0, "udp4_out": 0, "udp6_out": 0}

    def exchange(payload):
        c = socket.create_connection((b4, 5001))
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        n = read_all(c)
        sent["tcp_out_wire"] += wire_bytes(c)
        c.close()
        sent["tcp_out"] += len(payload)
        sent["tcp_in"] += n

    exchange(b"b" * BIG)
    for i in range(SMALL_CONNS):
        exchange(b"s" * SMALL_REQ)
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    for i in range(UDP4):
        sent["udp4_out"] += u4.sendto(b"u" * UDP_SIZE, (b4, 5002))
        time.sleep(0.002)
    for i in range(UDP6):
        sent["udp6_out"] += u6.sendto(b"v" * UDP_SIZE, (b6, 5002))
        time.sleep(0.002)
    json.dump(sent, open(out, "w"))
    print("done", flush=True)
"""


def ns_run(ns, *cmd):
    subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True)


@pytest.fixture
def pair(make_netns):
    """Two namespaces joined by a veth pair: (client ns, server ns)."""
    a = make_netns("nfa", sysctls=("net.ipv6.conf.all.accept_dad=0",
                                   "net.ipv6.conf.default.accept_dad=0"))
    b = make_netns("nfb", sysctls=("net.ipv6.conf.all.accept_dad=0",
                                   "net.ipv6.conf.default.accept_dad=0"))
    va, vb = f"nfa{os.getpid() % 100000}", f"nfb{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", va, "netns", a, "type", "veth", "peer", "name", vb,
                    "netns", b], check=True, capture_output=True)
    for ns, dev, a4, a6 in ((a, va, A4, A6), (b, vb, B4, B6)):
        ns_run(ns, "ip", "addr", "add", f"{a4}/24", "dev", dev)
        ns_run(ns, "ip", "-6", "addr", "add", f"{a6}/64", "dev", dev, "nodad")
        ns_run(ns, "ip", "link", "set", dev, "up")
    return a, b


def run_traffic(pair, tmp_path):
    """Server in one namespace, client in the other; returns what each
    reports it moved."""
    a, b = pair
    script = tmp_path / "peer.py"
    script.write_text(PEER)
    args = [str(x) for x in (BIG, SMALL_CONNS, SMALL_REQ, SMALL_RESP, BIG_RESP, UDP4, UDP6,
                             UDP_SIZE, B4, B6)]
    server = subprocess.Popen(["ip", "netns", "exec", b, "/usr/bin/python3", "-u", str(script),
                               "server", str(tmp_path / "server.json"), *args],
                              stdout=subprocess.PIPE, stderr=open(tmp_path / "server.log", "wb"),
                              text=True, start_new_session=True)
    _register(server)
    try:
        assert server.stdout.readline().strip() == "ready", tail(tmp_path / "server.log")
        client = subprocess.run(["ip", "netns", "exec", a, "/usr/bin/python3", "-u", str(script),
                                 "client", str(tmp_path / "client.json"), *args],
                                capture_output=True, text=True, timeout=120)
        assert client.returncode == 0, client.stderr
        assert server.stdout.readline().strip() == "done", tail(tmp_path / "server.log")
        server.wait(timeout=10)
    finally:
        kill_process_group(server)
    sent = json.loads((tmp_path / "client.json").read_text())
    got = json.loads((tmp_path / "server.json").read_text())
    # The peers agree on TCP (a check of the test itself).
    assert sent["tcp_out"] == got["tcp_in"] == BIG + SMALL_CONNS * SMALL_REQ, (sent, got)
    assert sent["tcp_in"] == got["tcp_out"] == BIG_RESP + SMALL_CONNS * SMALL_RESP, (sent, got)
    assert sent["udp4_out"] == UDP4 * UDP_SIZE and sent["udp6_out"] == UDP6 * UDP_SIZE, sent
    # A datagram may be dropped on the way; the server says what arrived.
    assert got["udp4_in"] > 0 and got["udp6_in"] > 0, got
    return sent, got


def expected_flows(sent, got):
    """(src, dst, direction, transport) -> bytes. TCP payload, each byte
    once (a retransmission is not counted again): what the processes wrote
    and read; UDP: the datagrams' payload sent, and received."""
    return {
        (A4, B4, "egress", "tcp"): sent["tcp_out"],
        (A4, B4, "ingress", "tcp"): got["tcp_in"],
        (B4, A4, "egress", "tcp"): got["tcp_out"],
        (B4, A4, "ingress", "tcp"): sent["tcp_in"],
        (A4, B4, "egress", "udp"): sent["udp4_out"],
        (A4, B4, "ingress", "udp"): got["udp4_in"],
        (A6, B6, "egress", "udp"): sent["udp6_out"],
        (A6, B6, "ingress", "udp"): got["udp6_in"],
    }


def cgroup_programs_of(pid):
    """Names of the programs process @pid attached to a cgroup, from the
    fdinfo of its BPF link descriptors (other Sondes may run beside it)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            info = dict(line.split(":", 1) for line in
                        open(f"/proc/{pid}/fdinfo/{fd}").read().splitlines() if ":" in line)
        except OSError:
            continue
        if info.get("link_type", "").strip() == "cgroup":
            ids.add(int(info["prog_id"]))
    res = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    return {p.get("name", "") for p in json.loads(res.stdout) if p["id"] in ids}


def within_1pct(got, want):
    return abs(got - want) <= 0.01 * want


def flow_value(m, src, dst, direction, transport):
    return m.sum("sonde_network_flow_bytes_total", src_address=src, dst_address=dst,
                 direction=direction, transport=transport)


def promtool_check(body):
    if shutil.which("promtool") is None:
        pytest.fail("promtool not found: apt-get install prometheus", pytrace=False)
    if isinstance(body, str):
        body = body.encode()
    res = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                         timeout=60)
    return res.returncode, (res.stdout + res.stderr).decode("utf-8", "replace")


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(tmp_path, http_port=free_port())
    yield r
    r.stop()


def test_flow_bytes_match_what_was_moved(pair, tmp_path, start_sonde, receiver):
    sonde = start_sonde({
        "SONDE_OPEN_PORT": str(free_port()),  # nothing traced: flows are counted regardless
        "SONDE_NETWORK_METRICS": "true",
        "BEYLA_NETWORK_CIDRS": ",".join(CIDRS),
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"http://127.0.0.1:{receiver.http_port}/v1/metrics",
        "OTEL_METRIC_EXPORT_INTERVAL": "500", "NO_PROXY": "*", "no_proxy": "*",
    })
    sonde.wait_log(r"network metrics: counting TCP and UDP flows", 5)
    # UDP is counted per packet: the cgroup_skb programs are attached.
    assert {"netflow_egress", "netflow_ingress"} <= cgroup_programs_of(sonde.proc.pid)
    sent, got = run_traffic(pair, tmp_path)
    want = expected_flows(sent, got)

    def all_counted():
        m = sonde.metrics()
        return all(flow_value(m, *k) >= 0.99 * v for k, v in want.items()) and m
    try:
        wait_until(all_counted, 15, interval=0.25, what="every flow counted")
    except AssertionError:
        m = sonde.metrics()
        raise AssertionError({k: (v, flow_value(m, *k)) for k, v in want.items()}) from None
    time.sleep(1.2)  # a late drain must not add anything
    body = scrape(sonde.prom_port)
    m = Metrics(body)
    for key, v in want.items():
        assert within_1pct(flow_value(m, *key), v), (key, flow_value(m, *key), v)
    assert m.types.get("sonde_network_flow_bytes_total") == "counter"
    # Labels: the most specific listed CIDR of each address; none for others.
    for (_, lab, _) in m.select("sonde_network_flow_bytes_total", src_address=A4, dst_address=B4):
        assert lab["src_cidr"] == f"10.200.{N}.0/24" and lab["dst_cidr"] == f"{B4}/32", lab
        assert set(lab) == {"src_address", "dst_address", "direction", "transport", "src_cidr",
                            "dst_cidr"}, lab
    for (_, lab, _) in m.select("sonde_network_flow_bytes_total", src_address=B4):
        assert lab["src_cidr"] == f"{B4}/32" and lab["dst_cidr"] == f"10.200.{N}.0/24", lab
    for (_, lab, _) in m.select("sonde_network_flow_bytes_total", src_address=A6):
        assert lab["src_cidr"] == lab["dst_cidr"] == f"fd00:200:{N}::/64", lab
    # Our own scrapes are loopback TCP flows, in no listed CIDR.
    local = m.select("sonde_network_flow_bytes_total", src_address="127.0.0.1", transport="tcp")
    assert local and all(lab["src_cidr"] == "" and lab["dst_cidr"] == "" for _, lab, _ in local)
    assert m.sum("sonde_events_lost_total", reason="flow_map_full") == 0
    assert m.sum("sonde_metric_series_overflow_total",
                 metric="sonde_network_flow_bytes_total") == 0
    rc, out = promtool_check(body)
    assert rc == 0, out

    # OTLP: the same counts as a cumulative monotonic Sum in bytes.
    since = time.monotonic()

    def otlp_counted():
        pts = [p for p in receiver.number_points("sonde.network.flow.bytes") if p["_mono"] >= since]
        latest = {}
        for p in pts:
            a = p["attributes"]
            latest[(a.get("src.address"), a.get("dst.address"), a.get("direction"),
                    a.get("transport"))] = p
        return all(k in latest for k in want) and latest
    latest = receiver.wait(otlp_counted, 15, "every flow over OTLP")
    for key, v in want.items():
        p = latest[key]
        assert within_1pct(p["value"], v), (key, p["value"], v)
        assert p["unit"] == "By" and p["monotonic"] and p["temporality"] == CUMULATIVE, p
    p = latest[(A4, B4, "egress", "tcp")]
    assert p["attributes"]["src.cidr"] == f"10.200.{N}.0/24", p
    assert p["attributes"]["dst.cidr"] == f"{B4}/32", p
    # The feature's self metrics go over OTLP too.
    lost = [q for q in receiver.number_points("sonde.events.lost")
            if q["attributes"].get("reason") == "flow_map_full"]
    assert lost and lost[-1]["value"] == 0, lost[-1:]
    capped = [q for q in receiver.number_points("sonde.metric.series.overflow")
              if q["attributes"].get("metric") == "sonde_network_flow_bytes_total"]
    assert capped and capped[-1]["value"] == 0, capped[-1:]


def test_select_aggregates_by_cidr_feature_list_and_cap(pair, tmp_path, start_sonde):
    """prometheus_export.features with network turns the flows on without
    network.enable; attributes.select (under Beyla's metric name) drops the
    addresses, so flows add up per CIDR pair; the cap counts what it drops."""
    cfg = tmp_path / "sonde.yml"
    cfg.write_text(
        "discovery:\n  open_ports: %d\n"
        "prometheus_export:\n  features: [application, network]\n"
        "network:\n  cidrs: [%s]\n"
        "attributes:\n  select:\n    beyla_network_flow_bytes:\n"
        "      exclude: [src_address, dst.address]\n" % (free_port(), ", ".join(CIDRS)))
    sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg)})
    sonde.wait_log(r"network metrics: counting TCP and UDP flows", 5)
    sent, got = run_traffic(pair, tmp_path)
    want = sent["tcp_out"] + sent["udp4_out"]  # egress from A4: TCP and UDP

    def counted():
        m = sonde.metrics()
        v = m.sum("sonde_network_flow_bytes_total", src_cidr=f"10.200.{N}.0/24",
                  dst_cidr=f"{B4}/32", direction="egress")
        return v >= 0.99 * want and m
    m = wait_until(counted, 15, interval=0.25, what="the CIDR pair's egress bytes")
    series = m.select("sonde_network_flow_bytes_total")
    assert series and all("src_address" not in lab and "dst_address" not in lab
                          for _, lab, _ in series), series[:3]
    tcp = m.select("sonde_network_flow_bytes_total", src_cidr=f"10.200.{N}.0/24",
                   dst_cidr=f"{B4}/32", direction="egress", transport="tcp")
    assert len(tcp) == 1 and within_1pct(tcp[0][2], sent["tcp_out"]), tcp
    # Loopback flows (our scrapes) aggregate into the pair of empty CIDRs.
    # (They reach the counters at the next flush of the flow maps.)
    wait_until(lambda: sonde.metrics().select("sonde_network_flow_bytes_total", src_cidr="",
                                              dst_cidr="", transport="tcp"),
               5, interval=0.25, what="the loopback flows under the pair of empty CIDRs")
    # The cap: 2 flows at most; our traffic alone needs more.
    sonde.stop()
    capped = start_sonde({"SONDE_OPEN_PORT": str(free_port()), "SONDE_NETWORK_METRICS": "true",
                          "SONDE_MAX_SERIES_PER_METRIC": "2"})
    capped.wait_log(r"network metrics: counting TCP and UDP flows", 5)
    run_traffic(pair, tmp_path)

    def dropped():
        m2 = capped.metrics()
        return m2.sum("sonde_metric_series_overflow_total",
                      metric="sonde_network_flow_bytes_total") > 0 and m2
    m2 = wait_until(dropped, 15, interval=0.25, what="flows dropped by the cap")
    assert 1 <= len(m2.select("sonde_network_flow_bytes_total")) <= 2


# Seed 002's beyla-config.yml, its three blocks as the lab's README shows them.
SEED_002_CONFIG = """\
discovery:
  services:
    - name: user-service
      open_ports: 8080
      exe_path_regexp: "java"
    - name: point-service
      open_ports: 8001
      exe_path_regexp: "node"

otel_traces_export:
  endpoint: http://localhost:4317
  protocol: grpc

otel_metrics_export:
  endpoint: http://localhost:4317
  protocol: grpc
  interval: 30s

network:
  enable: true
  cidrs:
    - 0.0.0.0/0 # Monitor all network traffic
"""


def test_seed_002_config_is_accepted_as_written(tmp_path):
    cfg = tmp_path / "beyla-config.yml"
    cfg.write_text(SEED_002_CONFIG)
    sonde = str(Path(__file__).resolve().parents[2] / "build" / "sonde")
    res = subprocess.run([sonde, "--check-config", str(cfg)], env={"PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "configuration is valid" in res.stdout, res.stdout
    res = subprocess.run([sonde, "--config", str(cfg), "--print-config"],
                         env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    network = res.stdout.split("\nnetwork:\n", 1)[1].split("\n")[:2]
    assert sorted(x.strip() for x in network) == ['cidrs: ["0.0.0.0/0"]', "enable: true"], \
        res.stdout


def test_tcp_only_attaches_nothing_per_packet(pair, tmp_path, start_sonde):
    """exclude_protocols: [UDP] (Beyla's option): TCP is still counted, from
    the sockets' own counts, and no per-packet program is attached."""
    sonde = start_sonde({"SONDE_OPEN_PORT": str(free_port()), "SONDE_NETWORK_METRICS": "true",
                         "BEYLA_NETWORK_EXCLUDE_PROTOCOLS": "udp"})
    sonde.wait_log(r"network metrics: counting TCP flows from the sockets' own counts", 5)
    assert not {"netflow_egress", "netflow_ingress"} & cgroup_programs_of(sonde.proc.pid)
    sent, got = run_traffic(pair, tmp_path)
    want = {k: v for k, v in expected_flows(sent, got).items() if k[3] == "tcp"}

    def counted():
        m = sonde.metrics()
        return all(flow_value(m, *k) >= 0.99 * v for k, v in want.items()) and m
    wait_until(counted, 15, interval=0.25, what="the TCP flows")
    time.sleep(1.2)
    m = sonde.metrics()
    for key, v in want.items():
        assert within_1pct(flow_value(m, *key), v), (key, flow_value(m, *key), v)
    assert not m.select("sonde_network_flow_bytes_total", transport="udp")


def test_bad_protocol_name_is_refused(tmp_path):
    sonde = str(Path(__file__).resolve().parents[2] / "build" / "sonde")
    cfg = tmp_path / "sonde.yml"
    cfg.write_text("discovery:\n  open_ports: 8080\nnetwork:\n  enable: true\n  exclude_protocols: [UDP, ICMP]\n")
    res = subprocess.run([sonde, "--check-config", str(cfg)], capture_output=True, text=True,
                         timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    cfg.write_text("discovery:\n  open_ports: 8080\nnetwork:\n  enable: true\n  protocols: [TCP, TPC]\n")
    res = subprocess.run([sonde, "--check-config", str(cfg)], capture_output=True, text=True,
                         timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode != 0
    assert "network.protocols: 'TPC' is not an IP protocol name" in res.stderr, res.stderr


LONG = r"""
import socket, sys
mode, addr = sys.argv[1], sys.argv[2]
if mode == "server":
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, 5003)); ls.listen(1)
    print("ready", flush=True)
    c, _ = ls.accept()
    n = 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        n += len(d)
    print(n, flush=True)
else:
    c = socket.create_connection((addr, 5003))
    for line in sys.stdin:
        n = int(line)
        if n == 0:
            break
        c.sendall(b"x" * n)
        print("sent", flush=True)
    c.close()
    print("closed", flush=True)
"""


def test_open_connection_counted_while_open_and_only_since_start(pair, tmp_path, start_sonde):
    """A connection open before Sonde starts: what it moved before is not
    counted; what it moves while open is, without waiting for its close;
    its last bytes are counted once at the close."""
    a, b = pair
    script = tmp_path / "long.py"
    script.write_text(LONG)
    server = subprocess.Popen(["ip", "netns", "exec", b, "/usr/bin/python3", "-u", str(script),
                               "server", B4], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    _register(server)
    client = None
    try:
        # the client connects as it starts: only once the server listens
        assert server.stdout.readline().strip() == "ready"
        client = subprocess.Popen(["ip", "netns", "exec", a, "/usr/bin/python3", "-u",
                                   str(script), "client", B4], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        _register(client)

        def send(n):
            client.stdin.write(f"{n}\n")
            client.stdin.flush()
            assert client.stdout.readline().strip() == ("sent" if n else "closed")
        before, during, last = 3 << 20, 1 << 20, 512 << 10
        send(before)
        sonde = start_sonde({"SONDE_OPEN_PORT": str(free_port()),
                             "SONDE_NETWORK_METRICS": "true",
                             "SONDE_NETWORK_PROTOCOLS": "tcp"})
        sonde.wait_log(r"network metrics: counting TCP flows", 5)
        send(during)

        def egress():
            return flow_value(sonde.metrics(), A4, B4, "egress", "tcp")
        wait_until(lambda: egress() >= during, 10, interval=0.25,
                   what="the open connection's bytes")
        assert within_1pct(egress(), during), egress()
        send(last)
        send(0)
        assert int(server.stdout.readline()) == before + during + last
        wait_until(lambda: egress() >= during + last, 10, interval=0.25,
                   what="the closed connection's last bytes")
        time.sleep(1.2)
        assert within_1pct(egress(), during + last), egress()
        assert within_1pct(flow_value(sonde.metrics(), A4, B4, "ingress", "tcp"),
                           during + last)
    finally:
        if client:
            kill_process_group(client)
        kill_process_group(server)
