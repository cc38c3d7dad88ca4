"""A small Chrome DevTools Protocol client for the live-view test: Debian's
headless Chromium, driven over its websocket (python3-websocket), with
the page's network log recorded from the first request on.
"""
import base64
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import _register, kill_process_group

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    """One headless Chromium with one page (1280x800)."""

    def __init__(self, profile_dir, width=1280, height=800):
        try:
            import websocket  # noqa: F401 - python3-websocket
        except ImportError:
            pytest.fail("python3-websocket is missing (apt-get install python3-websocket)",
                        pytrace=False)
        if not Path(CHROMIUM).exists():
            pytest.fail("chromium is missing (apt-get install chromium)", pytrace=False)
        import websocket
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        self.log_path = Path(profile_dir) / "chromium.log"
        self._logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             f"--user-data-dir={Path(profile_dir) / 'profile'}", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--mute-audio",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=subprocess.STDOUT,
            start_new_session=True)
        _register(self.proc)
        port = self._devtools_port()
        pages = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not pages:
            try:
                pages = [t for t in requests.get(f"http://127.0.0.1:{port}/json/list",
                                                 timeout=2).json() if t.get("type") == "page"]
            except requests.RequestException:
                pass
            if not pages:
                time.sleep(0.2)
        assert pages, f"no page target in Chromium:\n{self.log_text()}"
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self._id = 0
        self._replies = {}
        self.events = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _devtools_port(self):
        deadline = time.monotonic() + 30
        rx = re.compile(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/")
        while time.monotonic() < deadline:
            m = rx.search(self.log_text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"Chromium did not open its DevTools port:\n{self.log_text()}")

    def _read(self):
        while True:
            try:
                msg = json.loads(self.ws.recv())
            except Exception:  # noqa: BLE001 - the socket closed
                with self._cond:
                    self._cond.notify_all()
                return
            with self._cond:
                if "id" in msg:
                    self._replies[msg["id"]] = msg
                else:
                    self.events.append(msg)
                self._cond.notify_all()

    def call(self, method, timeout=30, **params):
        with self._cond:
            self._id += 1
            mid = self._id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                assert left > 0, f"no reply to {method} in {timeout}s"
                self._cond.wait(left)
            reply = self._replies.pop(mid)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply.get("result", {})

    def eval(self, expression):
        """The value of a JavaScript expression (awaited if a promise)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        assert "exceptionDetails" not in r, f"{expression}: {r['exceptionDetails']}"
        return r["result"].get("value")

    def wait(self, expression, timeout=30, what=None):
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.eval(expression)
            if last:
                return last
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for "
                                     f"{what or expression} (last value {last!r})")
            time.sleep(0.2)

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def requested_urls(self):
        with self._cond:
            return [e["params"]["request"]["url"] for e in self.events
                    if e.get("method") == "Network.requestWillBeSent"]

    def failed_loads(self):
        with self._cond:
            return [e["params"] for e in self.events if e.get("method") == "Network.loadingFailed"]

    def console_errors(self):
        with self._cond:
            return [e["params"] for e in self.events
                    if e.get("method") == "Runtime.exceptionThrown" or
                    (e.get("method") == "Runtime.consoleAPICalled" and
                     e["params"].get("type") == "error")]

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(data))
        return path

    def click(self, selector):
        """A real mouse click (pressed and released) at the element's centre."""
        box = self.eval(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return null;
            e.scrollIntoView({{block: 'center'}});
            const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2];
        }})()""")
        assert box, f"nothing matches {selector}"
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def key(self, key, code=None, vk=None, text=None):
        """One key press (down and up) to the focused element."""
        params = {"key": key, "code": code or key, "windowsVirtualKeyCode": vk or 0}
        down = dict(params, type="keyDown")
        if text:
            down["text"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call("Input.dispatchKeyEvent", **dict(params, type="keyUp"))

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        kill_process_group(self.proc)
        self._logf.close()
