"""A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
commands on fd 3, replies and events on fd 4, each message JSON ended by a NUL byte). No port,
no websocket library, no browser download: Debian's `chromium`, which `make test` installs.

`open_page` loads a file and returns what a reader would meet: console errors and uncaught
exceptions, every request the page made, and a way to evaluate JavaScript in it and to take a
screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: seconds to wait for one reply or event
TIMEOUT = 60.0


def chromium() -> str | None:
    """The browser's path, or None when none is installed."""
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


@dataclass
class Page:
    """A page loaded in the browser, and what it did while loading."""

    browser: _Browser
    session: str

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and the browser's own error log (a blocked
        request, a refused script) since the page started loading."""
        return _errors_and_requests(self._events())[0]

    def requests(self) -> list[str]:
        """The URL of every request the page made, itself included."""
        return _errors_and_requests(self._events())[1]

    def _events(self) -> list[dict[str, Any]]:
        self.evaluate("1")  # events sent before this reply arrive before it
        return self.browser.events

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        reply = self.browser.call("Runtime.evaluate", {"expression": expression,
                                                       "returnByValue": True}, self.session)
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self) -> bytes:
        """A PNG of the whole page."""
        reply = self.browser.call("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True}, self.session)
        return base64.b64decode(reply["data"])


class _Browser:
    def __init__(self, proc: subprocess.Popen[bytes], commands: int, replies: int) -> None:
        self.proc, self.commands, self.replies = proc, commands, replies
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        return self.next_id

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        ident = self.send(method, params, session)
        while True:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._receive())

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.replies], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"chromium said nothing for {TIMEOUT} s")
            chunk = os.read(self.replies, 1 << 16)
            if not chunk:
                raise ConnectionError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return dict(json.loads(message))


def _errors_and_requests(events: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    errors, requests = [], []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description")))
                                   for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            errors.append(str(params["exceptionDetails"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
    return errors, requests


@contextmanager
def open_page(path: Path, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """Load `path` in a fresh headless Chromium with no network (every host resolves to
    nothing, no proxy), once its load event has fired."""
    browser_path = chromium()
    assert browser_path is not None
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def pipes() -> None:  # in the child: the pipe ends where Chromium expects them
        # above 4 first, so that placing one end cannot close the other
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)]
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    with tempfile.TemporaryDirectory(prefix="pcapkit-chromium-") as profile:
        proc = subprocess.Popen(
            [browser_path, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--no-proxy-server",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # preexec_fn, not thread-safe, is safe here: pytest runs tests on one thread
            preexec_fn=pipes, close_fds=False,
            # its own process group: the renderer and crashpad children are stopped with it
            # before the profile folder is removed (they write to it while they live)
            start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        browser = _Browser(proc, to_browser_w, from_browser_r)
        try:
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.call(f"{domain}.enable", session=session)
            browser.call("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1,
                          "mobile": False}, session)
            browser.events.clear()  # about:blank's own
            browser.call("Page.navigate", {"url": path.resolve().as_uri()}, session)
            browser.wait_for("Page.loadEventFired")
            yield Page(browser, session)
        finally:
            os.close(to_browser_w)
            os.close(from_browser_r)
            os.killpg(proc.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            with suppress(ProcessLookupError):  # stragglers of the group, if any
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
