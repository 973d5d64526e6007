"""Pid files in the data directory: one ``certdesk up`` per data directory, and nothing a crashed
predecessor left behind keeps the next start from working.

``certdesk.pid`` names the running launcher: a second ``certdesk up`` on the same data directory
refuses to start while it lives. ``temporal.pid`` names the embedded Temporal server: it dies with
the launcher (PR_SET_PDEATHSIG), and where that could not happen a start stops the one found
before starting its own — only if its command line is still that server's on this data directory
(a recycled pid is left alone).
"""

import contextlib
import os
import signal
import time
from pathlib import Path

LAUNCHER, TEMPORAL = "certdesk.pid", "temporal.pid"


class AlreadyRunning(Exception):
    """Another live ``certdesk up`` holds this data directory."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.pid = pid


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def write(path: Path, pid: int) -> None:
    path.write_text(f"{pid}\n")
    path.chmod(0o600)


def remove(path: Path, pid: int) -> None:
    """Removes the pid file if it still names ``pid`` (a successor's is left alone)."""
    if _read(path) == pid:
        with contextlib.suppress(OSError):
            path.unlink()


def claim(data_dir: Path) -> Path:
    """Marks this process as the data directory's launcher; ``AlreadyRunning`` if another lives."""
    path = data_dir / LAUNCHER
    pid = _read(path)
    if pid and pid != os.getpid() and _alive(pid) and "certdesk" in _cmdline(pid):
        raise AlreadyRunning(pid)
    write(path, os.getpid())
    return path


def stop_leftover(path: Path, marker: str, wait: float = 10) -> int | None:
    """Stops the process ``path`` names when its command line still contains ``marker``; its pid, or None."""
    pid = _read(path)
    if not pid or not _alive(pid) or marker not in _cmdline(pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _alive(pid) and marker in _cmdline(pid):
        time.sleep(0.1)
    if _alive(pid) and marker in _cmdline(pid):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        path.unlink()
    return pid
