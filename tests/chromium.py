"""Drive the real headless Chromium over the DevTools protocol on a pipe (``--remote-debugging-pipe``):
no websocket library, no port, only the standard library.

Used by the browser tests (console errors, network requests, what is visible, screenshots at two
widths) and by ``scripts/screenshots.py`` (the docs' images). ``find()`` returns the browser's
path or ``None``; ``Page`` loads one file URL at a given width and answers questions about it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["BROWSERS", "Browser", "find"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-pipe",
)


def find() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium process; ``open(path, width)`` loads a page in a fresh tab.

    Every wait is bounded (``timeout`` seconds); ``close()`` ends the process it started.
    """

    def __init__(self, exe: str, profile: Path, *, timeout: float = 60.0) -> None:
        self.timeout = timeout
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # The protocol wants its pipe on fds 3 (commands in) and 4 (answers out). Moved above 9
        # first, so that the dup2 onto 3 and 4 in the child never overwrites one of them.
        ours = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome_r, from_chrome_w)]
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        to_chrome_r, from_chrome_w = ours

        def child() -> None:  # dup2 clears close-on-exec on 3 and 4 only
            os.dup2(ours[0], 3)
            os.dup2(ours[1], 4)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._from_chrome, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        with self._lock:
                            self._answers[message["id"]] = message
                            self._lock.notify_all()
                    else:
                        self._events.put(message)
        with self._lock:
            self._lock.notify_all()

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; a protocol error raises ``RuntimeError``."""
        self._next += 1
        ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        with self._lock:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"{method}: no answer from the browser")
                self._lock.wait(min(left, 0.5))
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def open(self, path: Path, width: int, height: int = 900) -> Page:
        """Load ``path`` in a new tab ``width`` CSS pixels wide; returns once its load event fired."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session)
        self.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 700)
        self.call("Page.navigate", session, url=path.resolve().as_uri())
        page.wait_for("Page.loadEventFired")
        return page

    def drain(self, page: Page) -> None:
        """Move events received so far to their pages."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if event.get("sessionId") == page.session:
                page.events.append(event)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._to_chrome)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Page:
    """A loaded tab: its protocol events, ``evaluate`` and full-page ``screenshot``."""

    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target
        self.events: list[dict[str, Any]] = []

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.browser.timeout
        seen = 0
        while True:
            self.browser.drain(self)
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {method} within {self.browser.timeout} s")
            time.sleep(0.02)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (the test's probe, not the page's)."""
        answer = self.browser.call("Runtime.evaluate", self.session, expression=expression,
                                   returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and failed loads, as text."""
        self.browser.drain(self)
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out.append(f"log: {p['entry'].get('text')}")
            elif m == "Network.loadingFailed":
                out.append(f"failed load: {p.get('errorText')}")
        return out

    def requests(self) -> list[str]:
        """URLs the page asked for (its own file included)."""
        self.browser.drain(self)
        sent = [e for e in self.events if e["method"] == "Network.requestWillBeSent"]
        return [e["params"]["request"]["url"] for e in sent]

    def screenshot(self, png: Path, max_height: int | None = None) -> tuple[int, int]:
        """The whole page (not only the viewport; its top ``max_height`` pixels if given) as a
        PNG; returns the page's CSS width and height."""
        size = self.browser.call("Page.getLayoutMetrics", self.session)["cssContentSize"]
        width, full = int(size["width"]), int(size["height"])
        height = full if max_height is None else min(full, max_height)
        shot = self.browser.call("Page.captureScreenshot", self.session, format="png",
                                 captureBeyondViewport=True,
                                 clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        png.write_bytes(base64.b64decode(shot["data"]))
        return width, full

    def close(self) -> None:
        self.browser.call("Target.closeTarget", targetId=self.target)
