"""HTTP client spans and traces that connect (the "client spans" issue).

A chain of three real services on loopback, each calling the next WHILE it
handles the request:

    test client -> front (Flask, thread per request) -> middle (Express,
    event loop) -> back (Java HttpServer, thread pool)

front and middle call downstream through keep-alive pools (urllib3 pool
shared by Flask's threads; Node http.Agent({keepAlive: true})). Sonde
selects the three listening ports; each process names its service with
OTEL_SERVICE_NAME in its own environment. Request ids are in the paths
(/front/<id> -> /middle/<id> -> /back/<id>), so every span is assigned to
its request without relying on Sonde's links, and the links are then
checked against the expected tree:

    server(front) -> client(front->middle) -> server(middle)
                  -> client(middle->back) -> server(back)

A second chain swaps the kinds of concurrency: Java front (HttpServer
thread pool, HttpURLConnection) -> Go middle (net/http, goroutines) -> Flask
back. Other tests: ten calls on one pooled connection, a refused connection,
a slow downstream, an incoming traceparent, body sizes, client metrics (and
PromQL through a real Prometheus), client-only processes (a Python script by
pid, curl by executable), aborted requests, self-calls, chunked responses,
calls made after the response, a request outlasting the link wait, and a
self-check of the analysis on synthetic broken trees.

Link rates per edge, wrong parents and other counts are printed (pytest -s)
and merged into /tmp/sonde-e2e-client-spans-report.json
(SONDE_CLIENT_SPANS_REPORT overrides the path).

Spans may be printed a few seconds after the request (linking waits for
related spans): waits are LINK_WAIT (15 s).
"""
import json
import secrets
import subprocess
import time

import pytest

from chain_helpers import (EDGE_NAMES, EDGES, LINK_WAIT, MIDDLE_HOST, PYTHON, CHAIN_DIR, Chain,
                           Prometheus, analyze_chain, brief, check_client_span, first, fire,
                           fresh_chain, new_tag, save_report, span_end, start_chain_sonde,
                           summary, wait_chain, wait_for)
from conftest import Client, free_port, kill_process_group, _register, wait_until

CLI_DUR = "http_client_request_duration_seconds"
CLI_REQ = "http_client_request_body_size_bytes"
CLI_RESP = "http_client_response_body_size_bytes"
N_CHAIN = 30
FRONT_EDGE, FRONT_TO_MIDDLE, MIDDLE_EDGE, MIDDLE_TO_BACK = EDGE_NAMES
CROSS_EDGES = [e for (_, e, cross) in EDGES.values() if cross]


def _module_chain(builder, log_dir, kinds):
    c = Chain(builder, log_dir, kinds)
    sonde = None
    try:
        sonde = start_chain_sonde(c, name=f"sonde[{c.label}]")
        c.sonde = sonde
        yield c
    finally:
        if sonde is not None:
            sonde.stop()
        c.stop()


@pytest.fixture(scope="module")
def chain(server_builder, tmp_path_factory):
    """Flask front -> Express middle -> Java back, and one Sonde, shared."""
    yield from _module_chain(server_builder, tmp_path_factory.mktemp("chain"),
                             ("flask", "express", "java"))


@pytest.fixture(scope="module")
def relay_chain(server_builder, tmp_path_factory):
    """Java front (thread pool, HttpURLConnection) -> Go middle -> Flask back."""
    yield from _module_chain(server_builder, tmp_path_factory.mktemp("relay-chain"),
                             ("java", "go", "flask"))


def get_json(sent):
    try:
        return json.loads(sent.response_body)
    except ValueError:
        return {"raw": sent.response_body[:300]}


def check_chain_responses(sent_list, chain):
    bad = [(s.target, s.status, s.response_body[:200]) for s in sent_list
           if s.status != 200 or get_json(s).get("down_status") != 200]
    assert not bad, (f"the chain itself failed (test setup, not Sonde): {bad[:5]}\n"
                     f"{chain.logs()}")


def fail_if(problems, header, rep):
    assert not problems, f"{header}\nsummary: {json.dumps(summary(rep))}\n  {first(problems)}"


# --------------------------------------------------------------------------
# 1. The three-service chain, concurrent and sequential.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("concurrency", [4, 1], ids=["concurrent4", "sequential"])
@pytest.mark.parametrize("which", ["chain", "relay_chain"],
                         ids=["flask-express-java", "java-go-flask"])
def test_chain_three_services(request, which, concurrency):
    """N requests through the chain. The front is thread-per-request (Flask or
    Java): its in-process edge must be linked in >= 90% of traces. The middle
    is an event loop (Node) or Go: under concurrency any link rate is allowed
    but never a wrong parent; one request at a time, 100%. Cross-process
    edges: 100%."""
    chain = request.getfixturevalue(which)
    tag = new_tag(f"c{concurrency}")
    rids = [f"{tag}-{i}" for i in range(N_CHAIN)]
    sent = fire(chain.front_port, [f"/front/{r}" for r in rids], concurrency)
    check_chain_responses(sent, chain)
    try:
        spans = wait_chain(chain.sonde, rids, f"5 spans for each of the {N_CHAIN} chain requests")
    except AssertionError as exc:
        got = [s for s in chain.sonde.snapshot() if tag in str(s.get("path"))]
        rep = analyze_chain(got, chain, rids)
        save_report(f"chain[{chain.label},c={concurrency}]", dict(summary(rep), error="timeout"))
        raise AssertionError(f"{exc}\nsummary: {json.dumps(summary(rep))}\n"
                             f"structure: {first(rep['structure'], 3)}") from None
    rep = analyze_chain(spans, chain, rids)
    s = summary(rep)
    save_report(f"chain[{chain.label},c={concurrency}]", s)

    fail_if(rep["structure"], f"not every request has exactly the 5 expected spans "
            f"({rep['complete']}/{N_CHAIN} complete):", rep)
    fail_if(rep["fields"], "span fields:", rep)
    fail_if(rep["connection"], "client and server spans of one TCP connection disagree:", rep)
    fail_if(rep["wrong_parents"], f"{len(rep['wrong_parents'])} wrong parent(s) (must be 0):",
            rep)
    fail_if(rep["trace_mismatch"], "linked spans in different traces:", rep)
    fail_if(rep["timing"], "span times:", rep)
    for edge in CROSS_EDGES:
        assert rep["rates"][edge] == 1.0, (
            f"cross-service edge {edge} linked in {rep['rates'][edge]:.0%} of traces, "
            f"expected 100%; summary: {json.dumps(s)}")
    front_kind, middle_kind = chain.kinds["front"], chain.kinds["middle"]
    assert rep["rates"][FRONT_EDGE] >= 0.9, (
        f"{front_kind} (thread per request) in-process edge linked in "
        f"{rep['rates'][FRONT_EDGE]:.0%} of traces, expected >= 90%; summary: {json.dumps(s)}")
    if concurrency == 1:
        assert rep["rates"][MIDDLE_EDGE] == 1.0, (
            f"{middle_kind} in-process edge linked in {rep['rates'][MIDDLE_EDGE]:.0%} of "
            f"sequential traces (one request in flight), expected 100%; "
            f"summary: {json.dumps(s)}")
        assert rep["fully_linked"] == N_CHAIN, (
            f"{rep['fully_linked']}/{N_CHAIN} sequential requests form one complete trace "
            f"(5 spans, one trace_id, every edge linked); summary: {json.dumps(s)}")


# --------------------------------------------------------------------------
# 2. Ten calls on one pooled keep-alive connection within one request.
# --------------------------------------------------------------------------

def test_keepalive_pool_ten_calls_one_connection(chain):
    tag = new_tag("p")
    sent = Client().request(chain.front_port, "GET", f"/pool/{tag}?n=10")
    body = get_json(sent)
    assert sent.status == 200, f"front /pool failed (test setup): {body}\n{chain.logs()}"
    ports, want = body["ports"], body["want"]
    assert body["statuses"] == want, f"back answered {body['statuses']}, wanted {want}"
    assert len(set(ports)) == 1 and ports[0], (
        f"the front's pool did not keep one connection (local ports {ports}): test setup")
    conn_port = ports[0]
    items = {f"/pool-item/{tag}/{i}": want[i] for i in range(10)}
    paths = set(items) | {f"/pool/{tag}"}
    spans = wait_for(chain.sonde, lambda s: s.get("path") in paths, 21,
                     "21 spans: the front's server span, 10 client spans, 10 back server spans")
    f, b = chain.names["front"], chain.names["back"]
    srv = [s for s in spans if s["kind"] == "server" and s["service"] == f]
    cli = [s for s in spans if s["kind"] == "client" and s["service"] == f]
    back = [s for s in spans if s["kind"] == "server" and s["service"] == b]
    other = [brief(s) for s in spans if s not in srv + cli + back]
    assert len(srv) == 1 and len(cli) == 10 and len(back) == 10 and not other, (
        f"expected 1 front server span, 10 front client spans, 10 back server spans; got "
        f"{len(srv)}, {len(cli)}, {len(back)}, other: {other}")
    root = srv[0]
    assert root["path"] == f"/pool/{tag}" and root["status"] == 200, brief(root)
    assert sorted(s["path"] for s in cli) == sorted(items), \
        f"client span paths {sorted(s['path'] for s in cli)} != {sorted(items)}"
    problems = []
    for s in cli:
        problems += check_client_span(s, s["path"], chain.pids("front"), f, chain.back_port,
                                      items[s["path"]])
        if s.get("client_port") != conn_port:
            problems.append(f"{s['path']}: client_port {s.get('client_port')} != the one "
                            f"pooled connection's {conn_port}")
        if s.get("parent_span_id") != root["span_id"]:
            problems.append(f"{s['path']}: parent {s.get('parent_span_id')!r}, expected the "
                            f"server span {root['span_id']}")
        if s.get("trace_id") != root["trace_id"]:
            problems.append(f"{s['path']}: trace {s.get('trace_id')} != server's "
                            f"{root['trace_id']}")
        if s["start_ns"] < root["start_ns"] - 1_000_000 or \
                span_end(s) > span_end(root) + 1_000_000:
            problems.append(f"{s['path']}: not within the server span's interval")
    by_path = {s["path"]: s for s in cli}
    for s in back:
        c = by_path.get(s["path"])
        if c and s.get("parent_span_id") != c["span_id"]:
            problems.append(f"back server span {s['path']}: parent {s.get('parent_span_id')!r}, "
                            f"expected its client span {c['span_id']} (keep-alive connection)")
        if s.get("client_port") != conn_port or s.get("status") != items[s["path"]]:
            problems.append(f"back server span {brief(s)}: client_port/status")
    ordered = sorted(cli, key=lambda s: int(s["path"].rsplit("/", 1)[1]))
    for a, nxt in zip(ordered, ordered[1:]):
        if nxt["start_ns"] < span_end(a) - 1_000_000:
            problems.append(f"sequential calls overlap: {a['path']} ends {span_end(a)}, "
                            f"{nxt['path']} starts {nxt['start_ns']}")
    linked = sum(1 for s in cli if s.get("parent_span_id") == root["span_id"])
    save_report("keepalive_pool", {"client_spans": len(cli), "children_of_server": linked,
                                   "problems": len(problems)})
    assert not problems, "keep-alive pool:\n  " + first(problems, 8)


# --------------------------------------------------------------------------
# 3. A refused connection.
# --------------------------------------------------------------------------

def test_refused_connection(chain):
    tag = new_tag("r")
    dead = free_port()
    sent = Client().request(chain.front_port, "GET", f"/refused/{tag}?port={dead}")
    body = get_json(sent)
    assert sent.status == 502 and "NewConnectionError" in str(body.get("error")), (
        f"front did not see a refused connection (test setup): {sent.status} {body}")
    f = chain.names["front"]

    def mine(s):
        return s.get("path") == f"/refused/{tag}" or (
            s.get("kind") == "client" and s.get("service") == f and s.get("server_port") == dead)
    spans = wait_for(chain.sonde, mine, 2, f"the server span of /refused/{tag} and a client "
                     f"span to the dead port {dead}")
    srv = [s for s in spans if s.get("kind") == "server"]
    cli = [s for s in spans if s.get("kind") == "client"]
    save_report("refused", {"server_spans": len(srv), "client_spans": len(cli),
                            "client": brief(cli[0]) if cli else None})
    assert len(srv) == 1 and len(cli) == 1, (
        f"expected one server and one client span, got {[brief(s) for s in spans]}")
    root, c = srv[0], cli[0]
    assert root["status"] == 502 and root["service"] == f, \
        f"server span must keep the status the app returned (502): {brief(root)}"
    assert "error" in c, f"client span has no 'error' key: {c}"
    assert isinstance(c["error"], str) and c["error"].strip(), \
        f"client span of a refused connection has an empty error: {brief(c)}"
    assert c["status"] == 0, f"status of a refused connection must be 0: {brief(c)}"
    assert c["pid"] in chain.pids("front") and c["server_addr"] == "127.0.0.1", brief(c)
    assert c["parent_span_id"] == root["span_id"] and c["trace_id"] == root["trace_id"], (
        f"refused client span is not the child of its server span: client {brief(c)}, "
        f"server {brief(root)}")
    # It counts as a client request with status code 0.
    def counted():
        m = chain.sonde.metrics()
        return m.sum(f"{CLI_DUR}_count", service_name=f, server_port=dead) >= 1 and m
    try:
        m = wait_until(counted, LINK_WAIT, interval=0.25, what="the refused call in /metrics")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {CLI_DUR}_count{{server_port=\"{dead}\"}} never moved") \
            from None
    by_status = {lab.get("http_response_status_code"): v
                 for (_, lab, v) in m.select(f"{CLI_DUR}_count", service_name=f,
                                             server_port=dead)}
    assert by_status == {"0": 1.0}, f"refused call counted as {by_status}, expected {{'0': 1}}"


# --------------------------------------------------------------------------
# 4. A slow downstream.
# --------------------------------------------------------------------------

def test_slow_downstream_durations_nest(chain):
    tag = new_tag("s")
    # Warm the pools: the slow request then runs on kept-alive connections.
    warm = fire(chain.front_port, [f"/front/{tag}-warm"], 1)
    check_chain_responses(warm, chain)
    rid = f"{tag}-slow"
    sent = Client().request(chain.front_port, "GET", f"/front/{rid}?delay=300ms")
    check_chain_responses([sent], chain)
    assert sent.client_ns >= 300_000_000, "the back did not sleep: test server bug"
    spans = wait_chain(chain.sonde, [rid], "the 5 spans of the slow request")
    rep = analyze_chain(spans, chain, [rid])
    fail_if(rep["structure"], "slow request:", rep)
    t = rep["trees"][rid]
    d = {r: t[r]["duration_ns"] for r in t}
    save_report("slow_downstream", {"durations_ms": {r: round(v / 1e6, 3) for r, v in d.items()},
                                    **summary(rep)})
    for cli_role in ("front_cli", "mid_cli"):
        assert d[cli_role] >= 300_000_000, (
            f"{cli_role} duration {d[cli_role] / 1e6:.3f} ms < the 300 ms the back slept: "
            f"{brief(t[cli_role])}")
        assert d[cli_role] <= sent.client_ns + 50_000_000, (
            f"{cli_role} duration {d[cli_role] / 1e6:.3f} ms > what the test client measured "
            f"({sent.client_ns / 1e6:.3f} ms) + 50 ms")
    for parent_role, cli_role in (("front_srv", "front_cli"), ("mid_srv", "mid_cli")):
        p, c = t[parent_role], t[cli_role]
        assert d[parent_role] >= d[cli_role], (
            f"server span {parent_role} ({d[parent_role] / 1e6:.3f} ms) is shorter than its "
            f"client call {cli_role} ({d[cli_role] / 1e6:.3f} ms)")
        assert c["start_ns"] >= p["start_ns"] - 1_000_000 and \
            span_end(c) <= span_end(p) + 1_000_000, (
                f"{cli_role} [{c['start_ns']}, {span_end(c)}] does not lie within "
                f"{parent_role} [{p['start_ns']}, {span_end(p)}] (1 ms slack)")
    assert d["back_srv"] >= 300_000_000, f"back server span {d['back_srv'] / 1e6:.3f} ms"
    fail_if(rep["timing"], "span times:", rep)
    fail_if(rep["wrong_parents"], "wrong parents:", rep)
    assert all(r == 1.0 for r in rep["rates"].values()), (
        f"one request in flight: every edge must be linked: {json.dumps(summary(rep))}")


# --------------------------------------------------------------------------
# 5. An incoming W3C traceparent.
# --------------------------------------------------------------------------

def test_incoming_traceparent_joins_trace(chain):
    tag = new_tag("t")
    trace, parent = secrets.token_hex(16), secrets.token_hex(8)
    rid = f"{tag}-tp"
    sent = Client().request(chain.front_port, "GET", f"/front/{rid}",
                            headers={"traceparent": f"00-{trace}-{parent}-01"})
    check_chain_responses([sent], chain)
    spans = wait_chain(chain.sonde, [rid], "the 5 spans of the traceparent request")
    rep = analyze_chain(spans, chain, [rid], root_parent=parent, root_trace=trace)
    save_report("traceparent", {"trace": trace, "parent": parent,
                                "spans": [brief(s) for s in spans], **summary(rep)})
    fail_if(rep["structure"], "traceparent request:", rep)
    root = rep["trees"][rid]["front_srv"]
    assert root["trace_id"] == trace, \
        f"front server span trace_id {root['trace_id']}, expected the header's {trace}"
    assert root["parent_span_id"] == parent, \
        f"front server span parent {root['parent_span_id']!r}, expected the header's {parent}"
    others = {r: s["trace_id"] for r, s in rep["trees"][rid].items() if s["trace_id"] != trace}
    assert not others, f"downstream spans outside the header's trace {trace}: {others}"
    fail_if(rep["wrong_parents"], "wrong parents:", rep)


# --------------------------------------------------------------------------
# 5b. Request and response body sizes of client spans.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1000, 70_000])
def test_client_span_body_sizes(chain, size):
    """front POSTs `size` bytes to the middle: the client span and the
    middle's server span both count them; the client span's response size is
    what the front read."""
    rid = f"{new_tag('b')}-{size}"
    sent = Client().request(chain.front_port, "GET", f"/front/{rid}?post={size}")
    check_chain_responses([sent], chain)
    down_bytes = get_json(sent)["down_bytes"]
    spans = wait_chain(chain.sonde, [rid], "the 5 spans of the POST request")
    rep = analyze_chain(spans, chain, [rid], method="POST")
    save_report(f"body_sizes[{size}]", summary(rep))
    fail_if(rep["structure"] + rep["fields"], "POST request:", rep)
    t = rep["trees"][rid]
    c, srv = t["front_cli"], t["mid_srv"]
    assert c["request_size"] == size, f"client span request_size {c['request_size']} != {size}"
    assert srv["request_size"] == size, f"middle server span request_size {srv['request_size']}"
    assert c["response_size"] == down_bytes, (
        f"client span response_size {c['response_size']} != the {down_bytes} bytes read")
    assert srv["method"] == "POST" and t["mid_cli"]["method"] == "GET", brief(srv)
    fail_if(rep["wrong_parents"] + rep["trace_mismatch"], "links:", rep)


# --------------------------------------------------------------------------
# 6. Client metrics on /metrics and through a real Prometheus.
# --------------------------------------------------------------------------

def test_client_metrics_and_prometheus(server_builder, tmp_path):
    c = Chain(server_builder, tmp_path)
    sonde = prom = None
    try:
        sonde = start_chain_sonde(c, name="sonde[metrics]")
        prom = Prometheus(sonde.prom_port, tmp_path / "prom")
        f, mname, b = c.names["front"], c.names["middle"], c.names["back"]
        tag = new_tag("m")
        client = Client()
        posts = [100, 2000, 5000]
        chain_sent = [client.request(c.front_port, "GET", f"/front/{tag}-g{i}") for i in range(3)]
        chain_sent += [client.request(c.front_port, "GET", f"/front/{tag}-p{i}?post={n}")
                       for i, n in enumerate(posts)]
        check_chain_responses(chain_sent, c)
        pool = client.request(c.front_port, "GET", f"/pool/{tag}?n=10")
        assert pool.status == 200, f"/pool failed (test setup): {pool.response_body[:300]}"
        pool_statuses = get_json(pool)["statuses"]
        dead = free_port()
        refused = client.request(c.front_port, "GET", f"/refused/{tag}?port={dead}")
        assert refused.status == 502, f"/refused: {refused.status} {refused.response_body[:200]}"

        n_chain = len(chain_sent)
        # (service, server_port) -> calls made
        want = {(f, c.middle_port): n_chain, (f, c.back_port): 10, (f, dead): 1,
                (mname, c.back_port): n_chain}
        total = sum(want.values())

        def enough():
            m = sonde.metrics()
            return m.sum(f"{CLI_DUR}_count") >= total and m
        try:
            wait_until(enough, LINK_WAIT, interval=0.25,
                       what=f"{total} client requests counted in {CLI_DUR}_count")
        except AssertionError as exc:
            m = sonde.metrics()
            lines = [ln for ln in m.text.splitlines() if ln.startswith("http_client")]
            save_report("client_metrics", {"error": "timeout", "want_total": total,
                                           "got_total": m.sum(f"{CLI_DUR}_count")})
            raise AssertionError(f"{exc}; got {m.sum(f'{CLI_DUR}_count'):g}; http_client* "
                                 f"lines:\n" + "\n".join(lines[:30])) from None
        time.sleep(1.5)  # anything counted twice would show by now
        m = sonde.metrics()
        got = {}
        for (_, lab, v) in m.select(f"{CLI_DUR}_count"):
            key = (lab.get("service_name"), int(lab.get("server_port", "0") or 0))
            got[key] = got.get(key, 0) + v
        save_report("client_metrics", {"want": {f"{k[0]}:{k[1]}": v for k, v in want.items()},
                                       "got": {f"{k[0]}:{k[1]}": v for k, v in got.items()}})
        # Every check below runs; the failures are reported together.
        problems = []

        def check(ok, msg):
            if not ok:
                problems.append(msg)
        check(got == want, f"{CLI_DUR}_count by (service_name, server_port) is {got}, "
                           f"expected {want}")
        check(m.sum(f"{CLI_DUR}_count", service_name=b) == 0,
              f"the back made no client calls, yet {CLI_DUR}_count{{service_name={b!r}}} = "
              f"{m.sum(f'{CLI_DUR}_count', service_name=b):g}")
        # Labels: status codes, methods, server_address as the client named it.
        for code in ("200", "404", "500", "503"):
            n_code = m.sum(f"{CLI_DUR}_count", service_name=f, server_port=c.back_port,
                           http_response_status_code=code)
            check(n_code == pool_statuses.count(int(code)),
                  f"pool calls with status {code}: counted {n_code:g}, made "
                  f"{pool_statuses.count(int(code))}")
        n0 = m.sum(f"{CLI_DUR}_count", service_name=f, server_port=dead,
                   http_response_status_code="0")
        check(n0 == 1, f"refused call counted {n0:g} times with http_response_status_code=\"0\"")
        n_post = m.sum(f"{CLI_DUR}_count", service_name=f, server_port=c.middle_port,
                       http_request_method="POST")
        check(n_post == len(posts), f"POST front->middle counted {n_post:g}, made {len(posts)}")
        addr_mid = m.label_values(f"{CLI_DUR}_count", "server_address", service_name=f,
                                  server_port=c.middle_port)
        check(addr_mid == [MIDDLE_HOST],
              f"server_address of front->middle calls is {addr_mid}; the client sent "
              f"Host: {MIDDLE_HOST}:{c.middle_port}, so expected [{MIDDLE_HOST!r}] (the host "
              f"the client named, without the port, which is in server_port)")
        addr_back = m.label_values(f"{CLI_DUR}_count", "server_address", service_name=mname,
                                   server_port=c.back_port)
        check(addr_back == ["127.0.0.1"], f"server_address of middle->back calls: {addr_back} "
                                          f"(Node sent Host: 127.0.0.1:{c.back_port})")
        addr_dead = m.label_values(f"{CLI_DUR}_count", "server_address", service_name=f,
                                   server_port=dead)
        check(addr_dead == ["127.0.0.1"], f"server_address of the refused call: {addr_dead} "
                                          f"(no Host header was ever sent: the IP)")
        # Body sizes.
        req_sum = m.sum(f"{CLI_REQ}_sum", service_name=f, server_port=c.middle_port)
        check(req_sum == sum(posts), f"{CLI_REQ}_sum front->middle = {req_sum:g}, "
                                     f"expected {sum(posts)}")
        req_n = m.sum(f"{CLI_REQ}_count", service_name=f, server_port=c.middle_port)
        check(req_n == n_chain, f"{CLI_REQ}_count front->middle = {req_n:g}, expected {n_chain}")
        down_bytes = sum(get_json(s)["down_bytes"] for s in chain_sent)
        resp_sum = m.sum(f"{CLI_RESP}_sum", service_name=f, server_port=c.middle_port)
        check(resp_sum == down_bytes, f"{CLI_RESP}_sum front->middle = {resp_sum:g}, the "
                                      f"front read {down_bytes} body bytes")
        for fam in (CLI_DUR, CLI_REQ, CLI_RESP):
            check(m.types.get(fam) == "histogram", f"# TYPE {fam}: {m.types.get(fam)}")
        # Through PromQL.
        front_calls = n_chain + 10 + 1
        for svc, n_calls in ((f, front_calls), (mname, n_chain)):
            q = f'sum({CLI_DUR}_count{{service_name="{svc}"}})'
            try:
                value = prom.wait_value(q, n_calls)
            except AssertionError as exc:
                value = f"timeout: {exc}"
            check(value == n_calls, f"PromQL {q} = {value}, expected {n_calls}")
        save_report("client_metrics_checks", {"problems": problems})
        assert not problems, "client metrics:\n  " + "\n  ".join(problems)
    finally:
        if prom is not None:
            prom.stop()
        if sonde is not None:
            sonde.stop()
        c.stop()


# --------------------------------------------------------------------------
# 7. A plain client process (no server socket).
# --------------------------------------------------------------------------

class PlainClient:
    def __init__(self, go_port, tag, n, log_dir, pre=False, mode=None):
        self.log_path = log_dir / f"plain-client-{tag}.log"
        self.errf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, str(CHAIN_DIR / "plain_client.py"), str(go_port), tag, str(n)] +
            (["--pre"] if pre else []) + ([mode] if mode else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errf,
            start_new_session=True)
        _register(self.proc)
        self.pre_port = None
        if pre:
            line = self.proc.stdout.readline().decode()
            assert line.startswith("pre "), \
                f"plain client: {line!r}\n{self.log_path.read_text()}"
            self.pre_port = int(line.split()[1])

    def go(self):
        out, _ = self.proc.communicate(b"go\n", timeout=60)
        assert self.proc.returncode == 0, \
            f"plain client failed: {self.proc.returncode}\n{self.log_path.read_text()}"
        return json.loads(out)["calls"]

    def stop(self):
        kill_process_group(self.proc)
        self.errf.close()


@pytest.mark.parametrize("printer", ["json", "text"])
def test_plain_client_root_spans(start_server, start_sonde, tmp_path, printer):
    """A client-only process selected by pid: its spans are root client spans
    (the Go server it calls is not traced)."""
    go = start_server("go")
    tag = new_tag("pc")
    n = 8
    pc = PlainClient(go.port, tag, n, tmp_path)
    try:
        sonde = start_sonde({"SONDE_TARGET_PID": str(pc.proc.pid),
                             "SONDE_SERVICE_NAME": "e2e-plain-client",
                             "SONDE_TRACE_PRINTER": printer})
        sonde.wait_instrumented({pc.proc.pid})
        calls = pc.go()
    finally:
        pc.stop()
    paths = {c["path"]: c for c in calls}
    if printer == "text":
        def lines():
            return [ln for ln in sonde.bad_stdout if f"/plain/{tag}/" in ln]
        try:
            wait_until(lambda: len(lines()) >= n, LINK_WAIT, what=f"{n} text lines")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {lines()}") from None
        got = lines()
        save_report("plain_client[text]", {"lines": got})
        assert len(got) == n, f"{len(got)} text lines for {n} calls: {got}"
        for c in calls:
            match = [ln for ln in got if f" {c['status']} GET {c['path']} " in ln]
            assert len(match) == 1 and " HTTPClient " in match[0], (
                f"no 'HTTPClient {c['status']} GET {c['path']}' line: {got}")
            assert f"[127.0.0.1:{c['local_port']}]->[127.0.0.1:{go.port}]" in match[0], match[0]
        return
    spans = wait_for(sonde, lambda s: s.get("path") in paths, n, f"{n} client spans")
    save_report("plain_client[json]", {"spans": [brief(s) for s in spans]})
    assert sorted(s["path"] for s in spans) == sorted(paths), \
        f"one span per call expected: {[brief(s) for s in spans]}"
    problems = []
    for s in spans:
        c = paths[s["path"]]
        problems += check_client_span(s, s["path"], {pc.proc.pid}, "e2e-plain-client", go.port,
                                      c["status"])
        if s.get("client_port") != c["local_port"]:
            problems.append(f"{s['path']}: client_port {s.get('client_port')} != "
                            f"{c['local_port']}")
        if s.get("parent_span_id") != "":
            problems.append(f"{s['path']}: a plain client's span must be a root: parent "
                            f"{s.get('parent_span_id')!r}")
    traces = [s["trace_id"] for s in spans]
    if len(set(traces)) != len(traces):
        problems.append(f"independent root calls share trace ids: {traces}")
    assert not problems, "plain client spans:\n  " + first(problems, 8)


def test_plain_client_links_to_traced_server(start_server, start_sonde, tmp_path):
    """Same client, and the Go server traced too (YAML, two services): each Go
    server span is the child of the plain client's span on that connection."""
    go = start_server("go")
    tag = new_tag("pl")
    n = 6
    pc = PlainClient(go.port, tag, n, tmp_path)
    try:
        cfg = tmp_path / "sonde.yml"
        cfg.write_text("discovery:\n  services:\n"
                       f"    - name: e2e-plain-caller\n      target_pids: [{pc.proc.pid}]\n"
                       f"    - name: e2e-go-callee\n      open_ports: {go.port}\n")
        sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented({pc.proc.pid})
        sonde.wait_instrumented(go.pids())
        calls = pc.go()
    finally:
        pc.stop()
    paths = {c["path"]: c for c in calls}
    spans = wait_for(sonde, lambda s: s.get("path") in paths, 2 * n,
                     f"{n} client spans and {n} Go server spans")
    cli = {s["path"]: s for s in spans if s["kind"] == "client"}
    srv = {s["path"]: s for s in spans if s["kind"] == "server"}
    save_report("plain_client_linked", {"client": len(cli), "server": len(srv),
                                        "linked": sum(1 for p, s in srv.items() if p in cli and
                                                      s["parent_span_id"] ==
                                                      cli[p]["span_id"])})
    assert len(spans) == 2 * n and set(cli) == set(paths) == set(srv), \
        f"expected one client and one server span per call: {[brief(s) for s in spans]}"
    problems = []
    for p in paths:
        c, s = cli[p], srv[p]
        if c["service"] != "e2e-plain-caller" or s["service"] != "e2e-go-callee":
            problems.append(f"{p}: services {c['service']!r}/{s['service']!r}")
        if c["parent_span_id"] != "":
            problems.append(f"{p}: client span not a root: {brief(c)}")
        if s["parent_span_id"] != c["span_id"] or s["trace_id"] != c["trace_id"]:
            problems.append(f"{p}: Go server span {brief(s)} is not the child of the client "
                            f"span {brief(c)}")
        if s["client_port"] != c["client_port"]:
            problems.append(f"{p}: client ports differ: {c['client_port']} / {s['client_port']}")
    assert not problems, "client -> server links:\n  " + first(problems, 8)


# --------------------------------------------------------------------------
# 8. The analysis itself: each kind of broken tree is caught (no Sonde).
# --------------------------------------------------------------------------

class _FakeChain:
    names = {"front": "f", "middle": "m", "back": "b"}
    front_port, middle_port, back_port = 1001, 1002, 1003
    _pids = {"front": {11}, "middle": {22}, "back": {33}}

    def pids(self, role):
        return self._pids[role]


def _perfect_tree(rid, t0=10**18):
    trace = secrets.token_hex(16)
    ids = {r: secrets.token_hex(8) for r in ("fs", "fc", "ms", "mc", "bs")}

    def span(kind, svc, pid, path, sid, parent, start, dur, cport, sport, **kw):
        s = {"kind": kind, "service": svc, "pid": pid, "method": "GET", "path": path,
             "status": 200, "trace_id": trace, "span_id": ids[sid],
             "parent_span_id": ids[parent] if parent else "", "start_ns": start,
             "duration_ns": dur, "client_addr": "127.0.0.1", "server_addr": "127.0.0.1",
             "client_port": cport, "server_port": sport}
        if kind == "client":
            s["error"] = ""
        s.update(kw)
        return s
    return [span("server", "f", 11, f"/front/{rid}", "fs", None, t0, 10_000_000, 5000, 1001),
            span("client", "f", 11, f"/middle/{rid}", "fc", "fs", t0 + 1_000_000, 8_000_000,
                 5001, 1002),
            span("server", "m", 22, f"/middle/{rid}", "ms", "fc", t0 + 1_100_000, 7_800_000,
                 5001, 1002),
            span("client", "m", 22, f"/back/{rid}", "mc", "ms", t0 + 2_000_000, 6_000_000,
                 5002, 1003),
            span("server", "b", 33, f"/back/{rid}", "bs", "mc", t0 + 2_100_000, 5_800_000,
                 5002, 1003)]


def _mutate(i, **kw):
    def f(spans):
        spans[i].update(kw)
        return spans
    return f


@pytest.mark.parametrize("mutation,field", [
    (lambda sp: sp, None),
    (_mutate(1, parent_span_id="00000000000000ab"), "wrong_parents"),
    (_mutate(0, parent_span_id="00000000000000ab"), "wrong_parents"),
    (_mutate(4, parent_span_id="00000000000000ab"), "wrong_parents"),
    (_mutate(2, parent_span_id=""), "unlinked"),
    (_mutate(4, trace_id="ab" * 16), "trace_mismatch"),
    (lambda sp: sp[:3] + sp[4:], "structure"),
    (lambda sp: sp + [dict(sp[4], span_id="00000000000000cd")], "structure"),
    (_mutate(1, service="m"), "structure"),
    (_mutate(3, kind="server"), "structure"),
    (_mutate(2, client_port=6000), "connection"),
    (_mutate(1, error="boom"), "fields"),
    (_mutate(3, status=500), "fields"),
    (_mutate(3, pid=11), "fields"),
    (_mutate(1, server_port=1003), "fields"),
    (_mutate(1, duration_ns=11_500_000), "timing"),
    (_mutate(3, start_ns=10**18 + 1_500_000 - 2_000_000), "timing"),
], ids=["perfect", "wrong-inproc-parent", "root-with-parent", "wrong-cross-parent",
        "unlinked-cross", "trace-mismatch", "missing-span", "duplicate-span", "wrong-service",
        "wrong-kind", "connection-ports", "client-error", "client-status", "client-pid",
        "client-server-port", "timing-end", "timing-start"])
def test_analysis_catches_broken_trees(mutation, field):
    fake = _FakeChain()
    spans = mutation(_perfect_tree("x"))
    rep = analyze_chain(spans, fake, ["x"])
    lists = ("structure", "fields", "wrong_parents", "trace_mismatch", "connection", "timing")
    found = {k for k in lists if rep[k]}
    if field is None:
        assert not found and rep["fully_linked"] == 1 and \
            all(r == 1.0 for r in rep["rates"].values()), summary(rep)
    elif field == "unlinked":
        assert not found and rep["rates"][FRONT_TO_MIDDLE] == 0 and rep["fully_linked"] == 0, \
            summary(rep)
    else:
        assert found == {field}, f"expected only {field!r} problems, got {found}: " \
                                 f"{ {k: rep[k] for k in found} }"


# --------------------------------------------------------------------------
# 1b. Slow and fast requests interleaved: overlap in every process.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["chain", "relay_chain"],
                         ids=["flask-express-java", "java-go-flask"])
def test_chain_mixed_slow_and_fast_never_wrong_parent(request, which):
    """Every 4th request sleeps 250 ms at the back, so that fast requests
    overlap slow ones in every process (and in the middle's event loop or Go
    runtime a client call starts while another request is in flight): some
    in-process links may be missing, none may be wrong."""
    chain = request.getfixturevalue(which)
    tag = new_tag("mx")
    n = 16
    rids = [f"{tag}-{i}" for i in range(n)]
    targets = [f"/front/{r}" + ("?delay=250ms" if i % 4 == 0 else "") for i, r in enumerate(rids)]
    sent = fire(chain.front_port, targets, 4)
    check_chain_responses(sent, chain)
    spans = wait_chain(chain.sonde, rids, f"5 spans for each of the {n} mixed requests")
    rep = analyze_chain(spans, chain, rids)
    s = summary(rep)
    save_report(f"mixed[{chain.label}]", s)
    fail_if(rep["structure"], "mixed slow/fast:", rep)
    fail_if(rep["wrong_parents"], f"{len(rep['wrong_parents'])} wrong parent(s) (must be 0):",
            rep)
    fail_if(rep["trace_mismatch"], "linked spans in different traces:", rep)
    fail_if(rep["fields"] + rep["connection"] + rep["timing"], "span fields/times:", rep)
    for edge in CROSS_EDGES:
        assert rep["rates"][edge] == 1.0, f"cross-service edge {edge}: {json.dumps(s)}"
    assert rep["rates"][FRONT_EDGE] >= 0.9, f"thread-per-request front edge: {json.dumps(s)}"


# --------------------------------------------------------------------------
# 7b. curl, selected by its executable.
# --------------------------------------------------------------------------

def test_curl_selected_by_executable(start_server, start_sonde, tmp_path):
    """A copy of curl under a name of its own, selected by executable regexp
    before it runs; one curl invocation fetches several URLs, 200 ms apart
    (--rate), a new connection each. Its spans are root client spans."""
    go = start_server("go")
    exe = tmp_path / "e2e-curl-client"
    curl = __import__("shutil").which("curl")
    if curl is None:
        pytest.fail("curl is not installed (apt-get install curl)", pytrace=False)
    exe.write_bytes(open(curl, "rb").read())
    exe.chmod(0o755)
    sonde = start_sonde({"SONDE_EXECUTABLE_NAME": "/e2e-curl-client$",
                         "SONDE_SERVICE_NAME": "e2e-curl", "SONDE_TRACE_PRINTER": "json"})
    tag = new_tag("cu")
    statuses = [200, 404, 201, 500, 200, 202]
    # The first URL is a warm-up: Sonde may or may not catch it (it selects
    # the process at exec); the others come 200 ms apart.
    urls = [f"http://127.0.0.1:{go.port}/curl/{tag}/warmup"] + \
        [f"http://127.0.0.1:{go.port}/curl/{tag}/{i}?status={st}"
         for i, st in enumerate(statuses)]
    args = [a for u in urls for a in ("-o", "/dev/null", u)]
    # Connection: close -- a new connection per URL, each opened after curl
    # was selected (the kept-alive case is test_client_connection_opened_before_sonde).
    res = subprocess.run([str(exe), "-s", "--rate", "5/s", "-H", "Connection: close", "-w",
                          "%{http_code} %{local_port}\\n", *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"curl failed: {res.returncode} {res.stderr}"
    out = [ln.split() for ln in res.stdout.splitlines()]
    assert [int(o[0]) for o in out[1:]] == statuses, f"curl saw {out} (test setup)"
    ports = {int(o[1]) for o in out}
    paths = {f"/curl/{tag}/{i}": st for i, st in enumerate(statuses)}
    m = sonde.wait_log(r"instrumenting pid=(\d+) service=e2e-curl ", 5,
                       "curl to be instrumented")
    curl_pid = int(m.group(1))
    spans = wait_for(sonde, lambda s: s.get("path") in paths, len(paths),
                     f"{len(paths)} curl client spans")
    save_report("curl", {"spans": [brief(s) for s in spans], "curl_ports": sorted(ports)})
    assert sorted(s["path"] for s in spans) == sorted(paths), \
        f"one span per URL expected: {[brief(s) for s in spans]}"
    problems = []
    for s in spans:
        problems += check_client_span(s, s["path"], {curl_pid}, "e2e-curl", go.port,
                                      paths[s["path"]])
        if s.get("client_port") not in ports:
            problems.append(f"{s['path']}: client_port {s.get('client_port')} not curl's "
                            f"{sorted(ports)}")
        if s.get("parent_span_id") != "":
            problems.append(f"{s['path']}: curl's span must be a root: {brief(s)}")
    assert not problems, "curl client spans:\n  " + first(problems, 8)


def test_client_connection_opened_before_sonde(start_server, start_sonde, tmp_path):
    """A client process already running with a kept-alive connection when
    Sonde starts (as after a restart of Sonde): calls on that connection are
    client spans too, like calls on connections opened later."""
    go = start_server("go")
    tag = new_tag("pre")
    n = 8
    pc = PlainClient(go.port, tag, n, tmp_path, pre=True)
    try:
        sonde = start_sonde({"SONDE_TARGET_PID": str(pc.proc.pid),
                             "SONDE_SERVICE_NAME": "e2e-plain-client",
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented({pc.proc.pid})
        calls = pc.go()
    finally:
        pc.stop()
    old = [c for c in calls if c["local_port"] == pc.pre_port]
    assert old, f"the session did not reuse its pre-Sonde connection {pc.pre_port}: {calls}"
    paths = {c["path"]: c for c in calls}
    try:
        spans = wait_for(sonde, lambda s: s.get("path") in paths, n, f"{n} client spans")
    except AssertionError:
        spans = [s for s in sonde.snapshot() if s.get("path") in paths]
    got = {s["path"] for s in spans}
    missing_old = [c["path"] for c in old if c["path"] not in got]
    missing_new = [c["path"] for c in calls if c not in old and c["path"] not in got]
    save_report("connection_before_sonde", {"calls_on_old_connection": len(old),
                                            "missing_on_old_connection": missing_old,
                                            "missing_on_new_connections": missing_new})
    assert not missing_new, f"calls on connections opened after Sonde have no span: {missing_new}"
    assert not missing_old, (
        f"{len(missing_old)}/{len(old)} calls on the keep-alive connection opened before Sonde "
        f"started (local port {pc.pre_port}) have no client span: {missing_old}")
    problems = []
    for s in spans:
        c = paths[s["path"]]
        problems += check_client_span(s, s["path"], {pc.proc.pid}, "e2e-plain-client", go.port,
                                      c["status"])
        if s.get("client_port") != c["local_port"] or s.get("parent_span_id") != "":
            problems.append(f"{s['path']}: client_port/parent: {brief(s)}")
    assert len(spans) == n and not problems, \
        f"{len(spans)} spans for {n} calls:\n  " + first(problems, 8)


# --------------------------------------------------------------------------
# 1c. An aborted request does not stay "in flight".
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kinds", [("flask", "express", "java"), ("java", "go", "flask")],
                         ids=["flask-express-java", "java-go-flask"])
def test_aborted_request_does_not_block_later_links(server_builder, tmp_path, kinds):
    """A client sends a request straight to the middle (event loop / Go) and
    hangs up while the middle waits for the back (1.5 s). Once that call is
    over, one request at a time goes through the chain again: the middle's
    in-process edge must be linked in 100% of them (nothing is left "in
    flight"), and no parent may be wrong. The aborted request's own call to
    the back is a client span linked to the back's server span (same TCP
    connection). A fresh chain, so that the first abort is the middle's
    first call (a new connection to the back) and a second one, after the
    sequential requests, goes over a pooled connection."""
    import socket
    chain = Chain(server_builder, tmp_path, kinds)
    sonde = None
    try:
        sonde = start_chain_sonde(chain, name=f"sonde[abort {chain.label}]")
        tag = new_tag("ab")

        def abort(abort_id):
            with socket.create_connection(("127.0.0.1", chain.middle_port), timeout=5) as sock:
                sock.sendall(f"GET /middle/{abort_id}?delay=1500ms HTTP/1.1\r\nHost: x\r\n\r\n"
                             .encode())
                time.sleep(0.3)
            time.sleep(1.5)  # the middle's call to the back is over by now

        abort(f"{tag}-cold")
        rids = [f"{tag}-{i}" for i in range(10)]
        sent = fire(chain.front_port, [f"/front/{r}" for r in rids], 1)
        check_chain_responses(sent, chain)
        abort(f"{tag}-warm")
        spans = wait_chain(sonde, rids, "5 spans for each of the 10 requests after the abort")
        rep = analyze_chain(spans, chain, rids)
        s = summary(rep)
        mid_n, back_n = chain.names["middle"], chain.names["back"]
        results, problems = {}, []
        for which in ("cold", "warm"):
            abort_id = f"{tag}-{which}"

            def ab(span, abort_id=abort_id):
                return span.get("path") in (f"/back/{abort_id}", f"/middle/{abort_id}")
            try:
                sonde.wait_spans(lambda x: ab(x) and x.get("kind") == "client", 1,
                                 timeout=LINK_WAIT, what=f"the {which} aborted call's client span")
                sonde.wait_spans(lambda x: ab(x) and x.get("service") == back_n, 1,
                                 timeout=LINK_WAIT, what=f"the back's span of the {which} abort")
            except AssertionError as exc:
                problems.append(f"{which} abort: {str(exc).splitlines()[0]}")
            aborted = [brief(x) for x in sonde.snapshot() if ab(x)]
            results[which] = aborted
            ab_srv = [x for x in aborted if x["kind"] == "server" and x["service"] == mid_n]
            ab_cli = [x for x in aborted if x["kind"] == "client"]
            ab_back = [x for x in aborted if x["service"] == back_n]
            if not (len(ab_cli) == 1 and len(ab_back) == 1 and len(ab_srv) <= 1):
                problems.append(f"{which} abort: spans {aborted}")
                continue
            c, b = ab_cli[0], ab_back[0]
            if b["parent_span_id"] != c["span_id"] or b["trace_id"] != c["trace_id"]:
                problems.append(
                    f"{which} abort ({'new' if which == 'cold' else 'pooled'} connection to the "
                    f"back): cross-process link lost: the middle's call for the aborted (never "
                    f"answered) request and the back's server span share one TCP connection "
                    f"(client ports {c['client_port']}/{b['client_port']}) but the back's span "
                    f"has parent {b['parent_span_id']!r} (trace {b['trace_id']}), not the "
                    f"client span {c['span_id']} (trace {c['trace_id']}, parent "
                    f"{c['parent_span_id']!r}); middle server spans of the aborted request: "
                    f"{len(ab_srv)}")
            if c["parent_span_id"] and ab_srv and c["parent_span_id"] != ab_srv[0]["span_id"]:
                problems.append(f"{which} abort: client span parent {c['parent_span_id']} is not "
                                f"its server span: {aborted}")
        save_report(f"after_abort[{chain.label}]", dict(s, aborted_request_spans=results,
                                                        problems=problems))
        fail_if(rep["structure"] + rep["fields"], "requests after the abort:", rep)
        fail_if(rep["wrong_parents"] + rep["trace_mismatch"], "links after the abort:", rep)
        assert rep["rates"][MIDDLE_EDGE] == 1.0, (
            f"{chain.kinds['middle']} in-process edge linked in {rep['rates'][MIDDLE_EDGE]:.0%} "
            f"of the sequential requests that followed an aborted request, expected 100%: the "
            f"aborted request seems to stay in flight; summary: {json.dumps(s)}")
        assert all(rep["rates"][e] == 1.0 for e in CROSS_EDGES), json.dumps(s)
        assert not problems, "aborted requests:\n  " + "\n  ".join(problems)
    finally:
        if sonde is not None:
            sonde.stop()
        chain.stop()


# --------------------------------------------------------------------------
# 1d. A process calling itself; a chunked downstream response.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["front", "middle"], ids=["flask", "express"])
def test_self_call_in_one_process(chain, role):
    """The service calls its own port while handling a request: server(outer)
    -> client -> server(inner), all in one process and one trace; the client
    and the inner server span are the two ends of one connection."""
    port = chain.front_port if role == "front" else chain.middle_port
    svc, pids = chain.names[role], chain.pids(role)
    tag = new_tag("self")
    rids = [f"{tag}-{i}" for i in range(5)]
    sent = fire(port, [f"/self/{r}" for r in rids], 1)
    bad = [(x.target, x.status, x.response_body[:100]) for x in sent if x.status != 200]
    assert not bad, f"/self failed (test setup): {bad}\n{chain.logs()}"
    paths = {p for r in rids for p in (f"/self/{r}", f"/leaf/{r}")}
    spans = wait_for(chain.sonde, lambda s: s.get("path") in paths, 3 * len(rids),
                     f"3 spans for each of {len(rids)} self-calls")
    problems, linked = [], 0
    for r in rids:
        outer = [s for s in spans if s["path"] == f"/self/{r}"]
        cli = [s for s in spans if s["path"] == f"/leaf/{r}" and s["kind"] == "client"]
        inner = [s for s in spans if s["path"] == f"/leaf/{r}" and s["kind"] == "server"]
        if not (len(outer) == len(cli) == len(inner) == 1 and outer[0]["kind"] == "server"):
            problems.append(f"{r}: expected server /self, client /leaf, server /leaf: "
                            f"{[brief(s) for s in spans if r in s['path']]}")
            continue
        o, c, i = outer[0], cli[0], inner[0]
        problems += check_client_span(c, f"{r} self-call", pids, svc, port, 200)
        if {o["service"], i["service"]} != {svc} or i["pid"] not in pids:
            problems.append(f"{r}: service/pid of the server spans: {brief(o)} {brief(i)}")
        if c["client_port"] != i["client_port"]:
            problems.append(f"{r}: client span port {c['client_port']} != inner server span's "
                            f"client port {i['client_port']}")
        if c["parent_span_id"] != o["span_id"]:
            problems.append(f"{r}: client span parent {c['parent_span_id']!r}, expected the "
                            f"outer server span {o['span_id']}")
        if i["parent_span_id"] != c["span_id"]:
            problems.append(f"{r}: inner server span parent {i['parent_span_id']!r}, expected "
                            f"the client span {c['span_id']}")
        if len({o["trace_id"], c["trace_id"], i["trace_id"]}) != 1:
            problems.append(f"{r}: three traces: {o['trace_id']} {c['trace_id']} "
                            f"{i['trace_id']}")
        if o["parent_span_id"] != "":
            problems.append(f"{r}: outer server span has parent {o['parent_span_id']!r}")
        linked += c["parent_span_id"] == o["span_id"] and i["parent_span_id"] == c["span_id"]
    save_report(f"self_call[{chain.kinds[role]}]", {"requests": len(rids), "linked": linked,
                                                    "problems": problems[:5]})
    assert not problems, f"self-calls in the {chain.kinds[role]} process:\n  " + \
        first(problems, 8)


def test_chunked_downstream_response(chain):
    """The middle answers with a chunked body whose last chunk comes 200 ms
    after the first: the front's client span ends when the last chunk is
    read."""
    rid = new_tag("ch")
    sent = Client().request(chain.front_port, "GET", f"/chunked/{rid}")
    body = get_json(sent)
    assert sent.status == 200 and body.get("down_status") == 200, f"test setup: {body}"
    paths = {f"/chunked/{rid}"}
    spans = wait_for(chain.sonde, lambda s: s.get("path") in paths, 3,
                     "front server, front client and middle server spans of /chunked")
    f, m = chain.names["front"], chain.names["middle"]
    by = {(s["kind"], s["service"]): s for s in spans}
    assert len(spans) == 3 and set(by) == {("server", f), ("client", f), ("server", m)}, \
        [brief(s) for s in spans]
    c, srv, down = by[("client", f)], by[("server", f)], by[("server", m)]
    save_report("chunked", {"client": brief(c), "middle_server": brief(down),
                            "front_read_bytes": body["down_bytes"]})
    problems = check_client_span(c, "chunked", chain.pids("front"), f, chain.middle_port, 200)
    assert not problems, first(problems)
    assert c["duration_ns"] >= 200_000_000, (
        f"client span of a chunked response lasts {c['duration_ns'] / 1e6:.3f} ms, but the "
        f"last chunk came 200 ms after the first: the span must end when it is read")
    assert down["duration_ns"] >= 200_000_000, \
        f"middle server span {down['duration_ns'] / 1e6:.3f} ms < 200 ms"
    assert c["duration_ns"] <= sent.client_ns + 50_000_000, "client span longer than the request"
    assert srv["duration_ns"] >= c["duration_ns"], "server span shorter than its client call"
    assert c["parent_span_id"] == srv["span_id"] and down["parent_span_id"] == c["span_id"], (
        f"links: front server {brief(srv)} -> client {brief(c)} -> middle server {brief(down)}")


# --------------------------------------------------------------------------
# 1e. A call made after the response: no request is being handled.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["front", "middle"], ids=["flask", "express"])
def test_call_after_response_has_no_parent(chain, role):
    """The service answers, then calls the back (Flask: in the same thread,
    from call_on_close; Node: 50 ms later from a timer) while no request is
    in flight. That call belongs to no request: its client span must not
    name the finished server span (nor any other) as parent. The back's
    server span is still its child."""
    port = chain.front_port if role == "front" else chain.middle_port
    svc = chain.names[role]
    tag = new_tag("af")
    rids = [f"{tag}-{i}" for i in range(4)]
    for r in rids:
        sent = Client().request(port, "GET", f"/after/{r}")
        assert sent.status == 200, f"/after failed (test setup): {sent.response_body[:200]}"
        time.sleep(0.25)  # the later call is over before the next request
    paths = {p for r in rids for p in (f"/after/{r}", f"/back/after-{r}")}
    spans = wait_for(chain.sonde, lambda s: s.get("path") in paths, 3 * len(rids),
                     f"server, client and back spans of {len(rids)} /after requests")
    problems = []
    stale = 0
    for r in rids:
        srv = [s for s in spans if s["path"] == f"/after/{r}"]
        cli = [s for s in spans if s["path"] == f"/back/after-{r}" and s["kind"] == "client"]
        back = [s for s in spans if s["path"] == f"/back/after-{r}" and s["kind"] == "server"]
        if not (len(srv) == len(cli) == len(back) == 1):
            problems.append(f"{r}: {[brief(s) for s in spans if r in s['path']]}")
            continue
        c = cli[0]
        problems += check_client_span(c, f"{r} call after the response", chain.pids(role), svc,
                                      chain.back_port, 200)
        if c["parent_span_id"] != "":
            stale += c["parent_span_id"] == srv[0]["span_id"]
            problems.append(
                f"{r}: the call made after the response has parent {c['parent_span_id']!r}"
                f"{' (the finished server span)' if c['parent_span_id'] == srv[0]['span_id'] else ''}"
                f"; server span [{srv[0]['start_ns']}, {span_end(srv[0])}], client span "
                f"[{c['start_ns']}, {span_end(c)}]")
        if back[0]["parent_span_id"] != c["span_id"]:
            problems.append(f"{r}: back span not the child of the client span: {brief(back[0])}")
    save_report(f"call_after_response[{chain.kinds[role]}]",
                {"requests": len(rids), "linked_to_finished_request": stale,
                 "problems": problems[:4]})
    assert not problems, f"calls after the response ({chain.kinds[role]}):\n  " + \
        first(problems, 8)


# --------------------------------------------------------------------------
# 4b. A parent that outlasts Sonde's link wait.
# --------------------------------------------------------------------------

def test_long_request_keeps_its_children(server_builder, tmp_path):
    """The front makes its downstream call at once, then keeps handling the
    request for 6.5 s before answering. A span waits for its parent at most
    traces.link_wait (default 5 s, documented): with SONDE_LINK_WAIT=10s the
    call's client span is still the front server span's child, and the rest
    of the tree stays linked. (A fresh chain and Sonde: the outcome must not
    depend on what the linker held before.)"""
    with fresh_chain(server_builder, tmp_path, SONDE_LINK_WAIT="10s") as chain:
        _long_request(chain)


def _long_request(chain):
    rid = f"{new_tag('lg')}-long"
    sent = Client().request(chain.front_port, "GET", f"/front/{rid}?hold_ms=6500")
    check_chain_responses([sent], chain)
    spans = wait_chain(chain.sonde, [rid], "the 5 spans of the long request")
    rep = analyze_chain(spans, chain, [rid])
    t = rep["trees"].get(rid, {})
    save_report("long_request", dict(summary(rep), spans={r: brief(x) for r, x in t.items()}))
    fail_if(rep["structure"] + rep["fields"], "long request:", rep)
    fail_if(rep["wrong_parents"] + rep["trace_mismatch"], "long request links:", rep)
    assert t["front_srv"]["duration_ns"] >= 6_500_000_000, brief(t["front_srv"])
    ids = {r: (x["span_id"], x["parent_span_id"], x["trace_id"][:8]) for r, x in t.items()}
    below = [e for e in EDGE_NAMES if e != FRONT_EDGE and rep["rates"][e] < 1.0]
    problems = []
    if below:
        problems.append(
            f"edges below the front's client span lost: {below}. Those spans only wait for "
            f"spans that end within milliseconds of them; they were printed unlinked (a held "
            f"child released before its held parent?)")
    if rep["rates"][FRONT_EDGE] < 1.0:
        problems.append(
            "the front's client span (made at the start of the 6.5 s request) was printed "
            "without its parent server span, which outlasted the link wait")
    assert not problems, "long request: " + "\n  ".join(problems) + \
        f"\n  (span_id, parent_span_id, trace_id) by role: {ids}"


# --------------------------------------------------------------------------
# 7c. A pipelining client.
# --------------------------------------------------------------------------

def test_pipelined_client_requests(start_server, start_sonde, tmp_path):
    """A traced client writes 4 requests at once on one connection (HTTP/1.1
    pipelining) to a traced Go server, then reads the 4 responses. Each
    request is a client span with its own status; each Go server span's
    parent is the client span of the same request -- never another one."""
    go = start_server("go")
    tag = new_tag("pp")
    n = 4
    pc = PlainClient(go.port, tag, n, tmp_path, mode="--pipeline")
    try:
        cfg = tmp_path / "sonde.yml"
        cfg.write_text("discovery:\n  services:\n"
                       f"    - name: e2e-pipeliner\n      target_pids: [{pc.proc.pid}]\n"
                       f"    - name: e2e-go-callee\n      open_ports: {go.port}\n")
        sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented({pc.proc.pid})
        sonde.wait_instrumented(go.pids())
        calls = pc.go()
    finally:
        pc.stop()
    paths = {c["path"]: c for c in calls}
    try:
        spans = wait_for(sonde, lambda s: s.get("path") in paths, 2 * n,
                         f"{n} client and {n} server spans of the pipelined requests")
    except AssertionError:
        spans = [s for s in sonde.snapshot() if s.get("path") in paths]
    cli = {}
    srv = {}
    for s in spans:
        (cli if s["kind"] == "client" else srv).setdefault(s["path"], []).append(s)
    by_id = {s["span_id"]: s for s in spans}
    wrong, problems = [], []
    for p, c in paths.items():
        ss, cs = srv.get(p, []), cli.get(p, [])
        if len(ss) != 1:
            problems.append(f"{p}: {len(ss)} Go server spans")
        if len(cs) != 1:
            problems.append(f"{p}: {len(cs)} client spans")
        elif cs[0]["status"] != c["status"] or cs[0]["parent_span_id"] != "":
            problems.append(f"{p}: client span status/parent: {brief(cs[0])} (saw {c['status']})")
        for s in ss:
            parent = s["parent_span_id"]
            if parent and (not cs or parent != cs[0]["span_id"]):
                other = by_id.get(parent)
                wrong.append(f"{p}: Go server span's parent is "
                             f"{brief(other)['path'] if other else parent!r}, not this "
                             f"request's client span")
            elif not parent and cs:
                problems.append(f"{p}: Go server span not linked to its client span")
    save_report("pipelined_client", {"client_spans": sum(map(len, cli.values())),
                                     "server_spans": sum(map(len, srv.values())),
                                     "wrong_parents": wrong, "problems": problems})
    assert not wrong, "pipelined requests, WRONG parents:\n  " + "\n  ".join(wrong)
    assert not problems, "pipelined requests:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------
# 1f. An asynchronous Java front: the thread that reads a request is not
#     the one that makes its call.
# --------------------------------------------------------------------------

def test_async_java_front_never_wrong_parent(server_builder, tmp_path):
    """Java HttpServer whose handler returns at once and finishes the request
    (downstream call, response) as a task of the same 2-thread pool, as async
    servlets, Vert.x or WebFlux do: a call often runs on a thread that has
    just read ANOTHER request. Links may be missing; none may be wrong."""
    with fresh_chain(server_builder, tmp_path, ("java-async", "go", "flask")) as chain:
        tag = new_tag("as")
        n = 40
        rids = [f"{tag}-{i}" for i in range(n)]
        sent = fire(chain.front_port, [f"/front/{r}" for r in rids], 4)
        check_chain_responses(sent, chain)
        spans = wait_chain(chain.sonde, rids, f"5 spans for each of the {n} requests")
        rep = analyze_chain(spans, chain, rids)
        s = summary(rep)
        save_report("async_java_front", dict(s, wrong_examples=rep["wrong_parents"][:3]))
        fail_if(rep["structure"], "async Java front:", rep)
        fail_if(rep["wrong_parents"], f"{len(rep['wrong_parents'])} wrong parent(s) of {n} "
                f"requests through an async Java front (must be 0; a missing link is "
                f"allowed):", rep)
        fail_if(rep["trace_mismatch"], "linked spans in different traces:", rep)
        for edge in CROSS_EDGES:
            assert rep["rates"][edge] == 1.0, f"cross-service edge {edge}: {json.dumps(s)}"
