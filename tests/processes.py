"""Test helpers for real ``rivosim serve`` subprocesses."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` (SIGTERM, as a CI runner would) and reap it; kill it if it ignores that for 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
