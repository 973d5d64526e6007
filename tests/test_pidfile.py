"""After any crash ``certdesk up`` just works: what a predecessor left on the data directory is
stopped (only if it is still that process), and two launchers never share one data directory."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certdesk import pidfile
from certdesk.dev_server import dev_server_command
from domain.settings import Settings
from tests.stack import CERTDESK, Stack, stack_env


def _sleeper(*marker: str) -> subprocess.Popen[bytes]:
    """A process whose command line carries ``marker`` (once it has really started: exec takes a moment)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *marker])
    deadline = time.monotonic() + 10
    while marker[-1] not in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace"):
        assert time.monotonic() < deadline, "the sleeper never started"
        time.sleep(0.01)
    return proc


def test_a_leftover_is_stopped_only_while_it_is_still_the_same_program(tmp_path: Path) -> None:
    path = tmp_path / pidfile.TEMPORAL
    leftover = _sleeper(str(tmp_path / "temporal.db"))
    stranger = _sleeper("something else")
    try:
        pidfile.write(path, stranger.pid)  # a recycled pid: another program now
        assert pidfile.stop_leftover(path, str(tmp_path / "temporal.db")) is None
        assert stranger.poll() is None and not path.exists()

        pidfile.write(path, leftover.pid)
        assert (path.stat().st_mode & 0o777) == 0o600
        assert pidfile.stop_leftover(path, str(tmp_path / "temporal.db")) == leftover.pid
        assert leftover.wait(10) is not None and not path.exists()
        assert pidfile.stop_leftover(path, "anything") is None  # nothing there: nothing to do
    finally:
        for p in (leftover, stranger):
            p.kill()
            p.wait()


def test_one_launcher_per_data_directory(tmp_path: Path) -> None:
    other = _sleeper("certdesk", "up")
    try:
        pidfile.write(tmp_path / pidfile.LAUNCHER, other.pid)
        with pytest.raises(pidfile.AlreadyRunning) as running:
            pidfile.claim(tmp_path)
        assert running.value.pid == other.pid
    finally:
        other.kill()
        other.wait()
    assert pidfile.claim(tmp_path).read_text().strip() == str(os.getpid())  # a dead one's file is taken over


def test_certdesk_up_stops_the_temporal_server_a_crashed_run_left_and_refuses_a_second_launcher(
        tmp_path: Path) -> None:
    env = stack_env(tmp_path / "var")
    data = tmp_path / "var"
    data.mkdir()
    # The server a crashed run left behind: still serving, on the port and database this run wants.
    settings = Settings(data_dir=data, temporal_port=int(env["CERTDESK_TEMPORAL_PORT"]))
    orphan = subprocess.Popen(dev_server_command(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    pidfile.write(data / pidfile.TEMPORAL, orphan.pid)
    time.sleep(1)
    stack = Stack(env, tmp_path / "up.log")
    try:
        stack.start()
        assert orphan.wait(30) is not None  # stopped by the start
        log = (tmp_path / "up.log").read_text()
        assert f"stopped the Temporal server a previous run left behind (pid {orphan.pid})" in log
        assert stack.get("/healthz").json()["temporal"] == "ok"
        second = subprocess.run([CERTDESK, "up"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "is running on" in second.stdout, second.stdout
        assert stack.get("/healthz").status_code == 200  # the first one is untouched
    finally:
        if orphan.poll() is None:
            orphan.kill()
        assert stack.stop() == 0
    assert not (data / pidfile.LAUNCHER).exists() and not (data / pidfile.TEMPORAL).exists()
