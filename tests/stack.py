"""Running the real ``certdesk`` command in a subprocess, on free ports and a temporary data directory."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

CERTDESK = str(Path(sys.executable).parent / "certdesk") if (Path(sys.executable).parent / "certdesk").exists() \
    else (shutil.which("certdesk") or "certdesk")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def stack_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Free ports for Temporal (and its UI 1000 above), the API and the SMTP sink."""
    while True:
        temporal = free_port()
        if temporal + 1000 < 65535 and _port_free(temporal + 1000):
            break
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env.update(CERTDESK_DATA_DIR=str(data_dir), CERTDESK_TEMPORAL_PORT=str(temporal),
               CERTDESK_TLS_PORT=str(free_port()), CERTDESK_API_PORT=str(free_port()),
               CERTDESK_SMTP_PORT=str(free_port()), **extra)
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CERTDESK, *args], env=env, capture_output=True, text=True, timeout=120)


def cli_json(env: dict[str, str], *args: str) -> dict[str, str]:
    done = run_cli(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Stack:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.base = f"http://127.0.0.1:{env['CERTDESK_API_PORT']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        with self.log.open("ab") as out:
            # Its own process group, so that ``kill`` can take down everything it started at once.
            self.proc = subprocess.Popen([CERTDESK, "up"], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"certdesk up exited early:\n{self.log.read_text()}"
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"not healthy within {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> int:
        """Ctrl-C, as a person in the terminal would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def kill(self) -> None:
        """SIGKILL to ``certdesk up`` and all it started (Temporal, workers, servers): a power cut."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", timeout=10)
