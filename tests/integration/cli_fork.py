"""A fork server for the command-line tests: `change-connector ARGS` in a process of its own,
without paying the interpreter start and the imports (about a second of CPU) on every call.

Run as a script, this module imports the CLI and its commands once, then reads one request per
line on stdin (JSON: argv, env, cwd and two output files) and forks a child per request. The
child points its stdin at /dev/null and its stdout and stderr at the files, takes the caller's
environment and working directory, and runs `connector`'s `__main__` exactly as
`python -m connector ARGS` does; it exits through the interpreter's normal shutdown. The server
answers with the child's exit status in `subprocess`'s convention (negative: killed by that
signal). The server itself has no threads, so forking it is safe.

`CliForkServer` is the caller's side. Tests that check the behaviour of the process itself
(signals, SIGKILL, the real interpreter start) keep starting `python -m connector` themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

# The modules a command imports on its way: loaded once in the server, shared by every child.
PRELOAD = (
    "connector.commands.cli",
    "connector.commands.worker_commands",
    "connector.commands.report_commands",
    "connector.commands.release_commands",
    "connector.commands.explain",
    "connector.commands.config_check",
    "connector.commands.demo",
    "connector.commands.cab",
    "connector.commands.discovery",
    "connector.commands.live_check",
    "connector.commands.sandbox_command",
    "connector.commands.gate_command",
    "connector.commands.calendar_cli",
    "connector.sandbox",
    "connector.reports",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
)


class CliForkServer:
    """One server process per test process; `run` is `subprocess.run(python -m connector ...)`
    with its output captured as text."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="cli-fork-"))
        self._calls = 0
        # What the server wrote and was read but not yet taken: its answers are read here
        # unbuffered, as select() sees only what is still in the pipe (a buffered reader that
        # took two answers in one read would leave select() waiting for the second).
        self._pending = b""

    def _server(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            self._pending = b""
            ready = self._read(self._proc.stdout, timeout=120)
            assert ready == {"ready": True}, ready
        return self._proc

    def _read(self, stream: IO[bytes] | None, *, timeout: float) -> Any:
        """The server's next answer (None: none within `timeout` seconds, or it has ended)."""
        assert stream is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([stream], [], [], max(left, 0))
            if not readable:
                return None
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line)

    def run(
        self,
        args: list[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        server = self._server()
        self._calls += 1
        out, err = self._dir / f"{self._calls}.out", self._dir / f"{self._calls}.err"
        request = {
            "argv": list(args),
            "env": dict(os.environ if env is None else env),
            "cwd": str(cwd if cwd is not None else os.getcwd()),
            "out": str(out),
            "err": str(err),
        }
        assert server.stdin is not None
        server.stdin.write(json.dumps(request).encode() + b"\n")
        server.stdin.flush()
        started = self._read(server.stdout, timeout=60)
        assert started and "pid" in started, started
        done = self._read(server.stdout, timeout=timeout)
        if done is None:  # like subprocess.run: kill the command and say so
            os.kill(started["pid"], signal.SIGKILL)
            self._read(server.stdout, timeout=60)
            raise subprocess.TimeoutExpired([sys.executable, "-m", "connector", *args], timeout)
        result = subprocess.CompletedProcess(
            [sys.executable, "-m", "connector", *args],
            done["code"],
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )
        out.unlink()
        err.unlink()
        return result

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
        shutil.rmtree(self._dir, ignore_errors=True)


def _serve() -> dict[str, Any] | None:
    """The server loop; returns the request in the child (which then runs it), None at the end."""
    import importlib

    sys.path[0] = os.getcwd()  # as `python -m` has it, not this script's directory
    for name in PRELOAD:
        # A module that fails to import fails in the command that needs it, as it would in a
        # new interpreter, rather than taking every command down with the server.
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    import gc

    gc.freeze()  # children do not copy the preloaded objects' pages just to collect them
    reply = sys.stdout
    print(json.dumps({"ready": True}), file=reply, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            return dict(request)
        print(json.dumps({"pid": pid}), file=reply, flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), file=reply, flush=True)
    return None


def _become(request: dict[str, Any]) -> None:
    """In the child: the process `python -m connector ARGV` would be."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, request["out"]), (2, request["err"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    # sys.stdout and sys.stderr write to descriptors 1 and 2, which now are the files (the
    # server flushed them before forking, so nothing of its own is left in their buffers).
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]
    sys.argv = ["-m", *request["argv"]]


def _run(request: dict[str, Any]) -> None:
    """Run the command, then end as the interpreter does (non-daemon threads joined, exit
    handlers run, streams flushed) but without tearing down every module: with everything
    imported, that teardown costs more than the command."""
    import atexit
    import runpy
    import threading

    _become(request)
    try:
        runpy.run_module("connector", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """SystemExit's code as the interpreter turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    job = _serve()
    if job is not None:
        _run(job)
