"""The live view (issue 14) in a real browser.

Sonde serves its page (SONDE_UI_PORT) while it traces the three-service
chain of tests/e2e/servers/chain/; Debian's headless Chromium, driven over
the Chrome DevTools Protocol (tests/e2e/cdp.py), loads it at 1280x800:

- nothing is requested from anywhere but Sonde (the page's network log);
- each service shows the number of requests the test sent it;
- the graph has exactly the expected edges, with their counts;
- a trace opened with a mouse click shows the spans Sonde printed for that
  request, parent before child; a span opened with the keyboard shows its
  attributes;
- the status filter and the duration filter select the right traces;
- every button has an accessible name.

Screenshots are saved under build/ui-artifacts/ (SONDE_UI_ARTIFACTS).
"""
import os
import time
import json
from pathlib import Path

import requests

from cdp import Browser
from chain_helpers import fresh_chain, new_tag
from conftest import REPO, Client, free_port, wait_until

ARTIFACTS = Path(os.environ.get("SONDE_UI_ARTIFACTS", REPO / "build" / "ui-artifacts"))
ROUTES = "/front/{id},/middle/{id},/back/{id}"
N_OK, N_500 = 6, 2
TIMEOUT = 40.0


def test_live_view_in_browser(server_builder, tmp_path):
    ui_port = free_port()
    env = {"SONDE_UI_PORT": str(ui_port), "SONDE_ROUTE_PATTERNS": ROUTES,
           "SONDE_LINK_WAIT": "2s", "SONDE_UI_MAX_TRACES": "50"}
    with fresh_chain(server_builder, tmp_path, name="sonde[ui]", **env) as chain:
        _run(chain, ui_port, tmp_path)


def _run(chain, ui_port, tmp_path):
    base = f"http://127.0.0.1:{ui_port}"
    f, m, b = chain.names["front"], chain.names["middle"], chain.names["back"]
    client = Client()
    tag = new_tag("ui")
    ok_paths = [f"/front/{tag}-ok{i}" for i in range(N_OK)]
    err_paths = [f"/front/{tag}-err{i}" for i in range(N_500)]
    for p in ok_paths:
        assert client.request(chain.front_port, "GET", p).status == 200
    for p in err_paths:
        assert client.request(chain.front_port, "GET", p + "?status=500").status == 200
    n = N_OK + N_500
    # Every span printed (and so handed to the live view) before the page loads.
    sonde = chain.sonde
    sonde.wait_spans(lambda s: tag in s.get("path", ""), 5 * n, timeout=TIMEOUT,
                     what=f"the {5 * n} spans of the test's requests")
    # The graph pairs spans after the link wait: until then edges may still move.
    want_edges = {("user", f): (n, 0), (f, m): (n, 0), (m, b): (n, N_500)}

    def edges_settled():
        o = requests.get(f"{base}/api/overview", timeout=5).json()
        got = {(e["client"], e["server"]): (e["requests"], e["failed"]) for e in o["edges"]}
        return got == want_edges
    wait_until(edges_settled, TIMEOUT, interval=0.25, what="the service graph of the requests")

    # The page refuses to be framed or to load from elsewhere.
    r = requests.get(base + "/", timeout=5)
    assert r.status_code == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]

    browser = Browser(tmp_path / "chromium")
    try:
        browser.navigate(base + "/")
        rows = browser.wait(f"""(() => {{
            const want = {json.dumps([f, m, b])};
            const got = {{}};
            for (const tr of document.querySelectorAll('#services tbody tr'))
                got[tr.dataset.service] = tr.querySelector('td.requests').textContent;
            return want.every(s => got[s] === '{n}') ? got : null;
        }})()""", timeout=TIMEOUT, what=f"each service showing {n} requests")
        assert rows == {f: str(n), m: str(n), b: str(n)}, rows
        # The graph: exactly the expected edges, drawn with their counts.
        edges = browser.wait("""(() => {
            const e = [...document.querySelectorAll('#graph g.edge')].map(g =>
                [g.dataset.client, g.dataset.server, +g.dataset.requests, +g.dataset.failed,
                 g.querySelector('text').textContent, g.classList.contains('failing')]);
            return e.length ? e : null;
        })()""", timeout=TIMEOUT, what="edges in the graph")
        got = {(c, s): (r_, fl) for c, s, r_, fl, _, _ in edges}
        assert got == want_edges, edges
        for c, s, r_, fl, text, failing in edges:
            assert text.startswith(str(r_)) and failing == (fl > 0), (c, s, text, failing)
            if fl:
                assert f"{fl} failed" in text, text  # said in words, not only in colour
        nodes = browser.eval("[...document.querySelectorAll('#graph g.node')]"
                             ".map(g => [g.dataset.node, g.classList.contains('external')])")
        assert sorted(nodes) == sorted([["user", True], [f, False], [m, False], [b, False]])
        browser.screenshot(ARTIFACTS / "overview.png")

        # A service's operations: click the back's button.
        browser.click(f'#services button.service[data-service="{b}"]')
        ops = browser.wait("""(() => {
            const t = document.getElementById('ops');
            if (t.hidden) return null;
            const rows = [...t.querySelectorAll('tbody tr')].map(r =>
                [...r.querySelectorAll('td')].map(td => td.textContent));
            return rows.length ? rows : null;
        })()""", timeout=15, what="the back's operations table")
        assert [(r[0], r[1], r[3], r[4]) for r in ops] == \
            [("server", "GET /back/{id}", str(n), str(N_500))], ops
        assert browser.eval(f'document.querySelector(\'#services button[data-service="{b}"]\')'
                            '.getAttribute("aria-pressed")') == "true"
        # ... which also filters the traces by that service (all 8 go through it).
        assert browser.eval("document.getElementById('f-service').value") == b
        browser.screenshot(ARTIFACTS / "operations.png")

        # Open one trace with a mouse click on its button.
        target = ok_paths[2]
        sel = browser.wait(f"""(() => {{
            for (const tr of document.querySelectorAll('#traces tbody tr'))
                if (tr.querySelector('.hint') && tr.querySelector('.hint').textContent ===
                    {json.dumps(target)})
                    return 'button.open-trace[data-trace-id="' + tr.dataset.traceId + '"]';
            return null;
        }})()""", timeout=TIMEOUT, what=f"the trace of {target} in the list")
        browser.click(sel)
        spans = browser.wait("""(() => {
            const li = [...document.querySelectorAll('#waterfall li.span')];
            return !document.getElementById('trace-panel').hidden && li.length === 5 ?
                li.map(l => [l.dataset.spanId, l.dataset.service, l.dataset.kind, l.dataset.name])
                : null;
        })()""", timeout=TIMEOUT, what="the waterfall of 5 spans")
        rid = target.rsplit("/", 1)[1]
        printed = [s for s in sonde.snapshot() if s.get("path", "").endswith("/" + rid)]
        assert len(printed) == 5, printed
        by_id = {s["span_id"]: s for s in printed}
        assert {s[0] for s in spans} == set(by_id), (spans, list(by_id))
        # Parent before child, and the expected shape of the chain.
        assert [(s[1], s[2], s[3]) for s in spans] == [
            (f, "server", "GET /front/{id}"), (f, "client", "GET"),
            (m, "server", "GET /middle/{id}"), (m, "client", "GET"),
            (b, "server", "GET /back/{id}")], spans
        for sid, *_ in spans:
            parent = by_id[sid]["parent_span_id"]
            if parent:
                assert [s[0] for s in spans].index(parent) < [s[0] for s in spans].index(sid)
        # The waterfall's bars lie within the track, in time order.
        bars = browser.eval("[...document.querySelectorAll('#waterfall .bar')]"
                            ".map(b => [parseFloat(b.style.left), parseFloat(b.style.width)])")
        assert all(0 <= left <= 100 and 0 < width <= 100.0001 for left, width in bars), bars
        assert bars[0][0] == 0 and bars[0][1] > 99, bars  # the root spans the trace
        # Keyboard: focus the back's span row and open it with Enter.
        back_id = spans[4][0]
        browser.eval(f"document.querySelector('#waterfall button[data-span-id=\"{back_id}\"]')"
                     ".focus()")
        browser.key("Enter", vk=13, text="\r")
        attrs = browser.wait(f"""(() => {{
            const b = document.querySelector('#waterfall button[data-span-id="{back_id}"]');
            const dl = document.getElementById(b.getAttribute('aria-controls'));
            if (b.getAttribute('aria-expanded') !== 'true' || dl.hidden) return null;
            const out = {{}};
            const dt = dl.querySelectorAll('dt'), dd = dl.querySelectorAll('dd');
            dt.forEach((t, i) => out[t.textContent] = dd[i].textContent);
            return out;
        }})()""", timeout=10, what="the span's attributes after Enter")
        assert attrs["url.path"] == f"/back/{rid}", attrs
        # Only that one opened: the others' attributes stay out of sight.
        shown = browser.eval("[...document.querySelectorAll('#waterfall dl.attrs')]"
                             ".filter(d => d.offsetParent !== null).map(d => d.id)")
        assert shown == [f"attrs-{back_id}"], shown
        assert attrs["http.response.status_code"] == "200", attrs
        assert attrs["span.id"] == back_id and attrs["parent.span.id"] == \
            by_id[back_id]["parent_span_id"], attrs
        browser.eval("document.getElementById('trace-panel').scrollIntoView()")
        browser.screenshot(ARTIFACTS / "waterfall.png")

        # Filters: errors only -> the traces of the 500s, nothing else.
        browser.eval("""(() => {
            const s = document.getElementById('f-status');
            s.value = 'error';
            s.dispatchEvent(new Event('change'));
        })()""")
        err_rows = browser.wait(f"""(() => {{
            const rows = [...document.querySelectorAll('#traces tbody tr[data-trace-id]')];
            const paths = rows.map(r => r.querySelector('.hint').textContent);
            return paths.length === {N_500} ? paths : null;
        }})()""", timeout=15, what=f"{N_500} error traces")
        assert sorted(err_rows) == sorted(err_paths), err_rows
        # An error trace: the failing spans say so in words, not only in colour.
        browser.click("#traces tbody button.open-trace")
        marks = browser.wait(f"""(() => {{
            const li = [...document.querySelectorAll('#waterfall li.span')];
            if (li.length !== 5 || !{json.dumps(err_paths)}.some(p =>
                    document.getElementById('trace-meta').textContent.includes('with errors')))
                return null;
            return li.map(l => [l.dataset.service, l.dataset.kind,
                                l.querySelector('button').getAttribute('aria-label').endsWith(', error'),
                                l.querySelector('.bar-label').textContent.includes('✖')]);
        }})()""", timeout=15, what="the waterfall of an error trace")
        assert marks == [[f, "server", False, False], [f, "client", False, False],
                         [m, "server", False, False], [m, "client", True, True],
                         [b, "server", True, True]], marks
        browser.screenshot(ARTIFACTS / "errors-only.png")
        # A minimum duration no request reached: nothing matches.
        browser.eval("""(() => {
            document.getElementById('f-status').value = 'all';
            const i = document.getElementById('f-min');
            i.value = '60000';
            i.dispatchEvent(new Event('change'));
        })()""")
        browser.wait("document.querySelectorAll('#traces tbody tr[data-trace-id]').length === 0"
                     " && document.querySelector('#traces tbody .empty') !== null",
                     timeout=15, what="no trace over 60 s")

        # Every button and link has an accessible name; the graph is an image with a name.
        tree = browser.call("Accessibility.getFullAXTree")["nodes"]
        unnamed = [n for n in tree if not n.get("ignored") and
                   n.get("role", {}).get("value") in ("button", "link", "combobox", "spinbutton")
                   and not n.get("name", {}).get("value")]
        assert not unnamed, unnamed[:3]
        graph_img = [n for n in tree if n.get("role", {}).get("value") in ("image", "img") and
                     n.get("name", {}).get("value") == "Service graph"]
        assert graph_img, ("the graph has no accessible name",
                           [(n.get("role"), n.get("name")) for n in tree
                            if "graph" in str(n.get("name", {}).get("value", "")).lower()])
        # ... and its description says every edge in words.
        desc = graph_img[0].get("description", {}).get("value", "")
        assert f"{m} calls {b}: {n} requests, {N_500} failed" in desc, desc
        # Tab from the top of a fresh page: the skip link, then the three service buttons.
        browser.navigate(base + "/")
        browser.wait("document.querySelectorAll('#services button.service').length === 3",
                     timeout=15, what="the services after a reload")
        seen = []
        for _ in range(6):
            browser.key("Tab", vk=9)
            seen.append(browser.eval("document.activeElement.dataset.service || "
                                     "document.activeElement.className || ''"))
        assert "skip" in seen, seen
        start = seen.index("skip")
        assert set(seen[start + 1:start + 4]) == {f, m, b}, seen

        # Nothing came from anywhere but Sonde, and nothing failed to load.
        urls = browser.requested_urls()
        assert urls and all(u.startswith(base + "/") for u in urls), \
            [u for u in urls if not u.startswith(base + "/")]
        assert {base + "/", base + "/app.js", base + "/app.css"} <= set(urls), urls
        assert not browser.failed_loads(), browser.failed_loads()
        assert not browser.console_errors(), browser.console_errors()
    finally:
        browser.close()


def test_live_view_bounded_traces(start_server, start_sonde):
    """ui.max_traces: the newest traces are kept, the rest dropped and counted."""
    server = start_server("flask")
    ui_port = free_port()
    sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_UI_PORT": str(ui_port),
                         "SONDE_UI_MAX_TRACES": "5", "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_instrumented(server.pids())
    client = Client()
    tag = new_tag("cap")
    paths = [f"/{tag}/{i}" for i in range(12)]
    for p in paths:
        client.request(server.port, "GET", p)
    sonde.wait_spans(lambda s: tag in s.get("path", ""), len(paths), timeout=TIMEOUT)
    base = f"http://127.0.0.1:{ui_port}"

    def kept():
        t = requests.get(f"{base}/api/traces?limit=100", timeout=5).json()
        return t["kept"] == 5 and t
    t = wait_until(kept, TIMEOUT, interval=0.25, what="5 traces kept")
    assert [x["root_path"] for x in t["traces"]] == list(reversed(paths[-5:]))
    assert t["dropped"] == len(paths) - 5
    o = requests.get(f"{base}/api/overview", timeout=5).json()
    assert o["traces_dropped"] == len(paths) - 5 and o["max_traces"] == 5
    assert o["services"][0]["requests"] == len(paths)
    # An evicted trace is gone; a kept one is there.
    old = requests.get(f"{base}/api/trace?id=" + "0" * 32, timeout=5)
    assert old.status_code == 404
    one = requests.get(f"{base}/api/trace?id={t['traces'][0]['trace_id']}", timeout=5).json()
    assert one["spans"][0]["attributes"]["url.path"] == paths[-1]
    # Listening on loopback only by default.
    assert any(f"live view on http://127.0.0.1:{ui_port}/" in ln for ln in sonde.log), sonde.log
