"""A headless Chromium driven over the DevTools protocol through `--remote-debugging-pipe`
(JSON messages ending in NUL on file descriptors 3 and 4): open a page at a given viewport,
evaluate expressions in it, take screenshots. Standard library only; tests use it to check what
a person sees (layout, scrolling, expanded rows), which `--dump-dom` cannot tell.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("no Chromium: install Debian's chromium (make chromium)")


class Browser:
    def __init__(self, *, width: int, height: int) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="cdp-")
        # Pipes moved above the standard descriptors, so dup2 onto 3 and 4 clobbers none.
        cmd_r, cmd_w = _high(os.pipe())
        res_r, res_w = _high(os.pipe())

        def wire() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self._proc = subprocess.Popen(
            [
                chromium_path(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--disable-breakpad",
                "--disable-crash-reporter",
                f"--user-data-dir={self._tmp.name}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=wire,
            # Its own process group: the renderer and utility processes go with it on close,
            # so none is left writing into the profile while it is removed.
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._out = os.fdopen(cmd_w, "wb", buffering=0)
        self._in = os.fdopen(res_r, "rb", buffering=0)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def call(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page's session."""
        return self.call(method, session=self._session, **params)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read())

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = self._in.read(1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def close(self) -> None:
        # Asked to close first; if it is already gone, its process group is ended below anyway.
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self.call("Browser.close")
        try:
            self._out.close()
            self._in.close()
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            _end_group(self._proc.pid)
            self._proc.wait()
            _remove(Path(self._tmp.name))
            self._tmp.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _end_group(pid: int) -> None:
    """Every process left in Chromium's group killed (its children can outlive the browser)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _remove(profile: Path) -> None:
    """The profile removed, retried while a dying child process still writes into it."""
    for _ in range(50):
        try:
            shutil.rmtree(profile)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    shutil.rmtree(profile)


def _high(fds: tuple[int, int]) -> tuple[int, int]:
    """The pair moved to descriptors above 10 (the originals closed)."""
    out = []
    for fd in fds:
        moved = os.dup2(fd, _free_above(10)) if fd <= 10 else fd
        if moved != fd:
            os.close(fd)
        out.append(moved)
    return out[0], out[1]


def _free_above(low: int) -> int:
    fd = low + 1
    while True:
        try:
            os.fstat(fd)
        except OSError:
            return fd
        fd += 1
