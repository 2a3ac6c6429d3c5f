"""Local servers for tests (`zoo demo`, olah): a free loopback port, start, wait until it answers, always stop."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(command: list[str], probe_url: str, log_path: Path, timeout_s: float, name: str, **popen_kwargs):
    """Run `command` with its output in `log_path`; return once `probe_url` answers 200, stop it on exit.

    The test fails, with the end of the log, if the process exits first or does not answer within `timeout_s`.
    """
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen_kwargs)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode} before serving:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(probe_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer {probe_url} within {timeout_s} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
