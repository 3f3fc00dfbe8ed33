"""The service in a child process on loopback (`python -m api`), for tests and benchmarks:
start on a free port, wait until /healthz answers, stop (or kill) it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, var_dir: Path, cache_dir: Optional[Path] = None, env: Optional[dict] = None,
                 workers: int = 1, port: Optional[int] = None, ready_timeout: float = 300.0):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.var_dir = Path(var_dir)
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "YICI_VAR_DIR": str(self.var_dir), "YICI_DB": str(self.var_dir / "yici.sqlite3"),
                    "YICI_PROGRESS": "0", **(env or {})}
        if cache_dir:
            self.env["YICI_CACHE_DIR"] = str(cache_dir)
        self.log_path = self.var_dir / "server.log"
        self.log = self.log_path.open("ab")
        # own process group: stop() also ends uvicorn's worker processes
        self.proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(self.port), "--workers", str(workers)],
                                     cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.wait_ready(ready_timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("server did not become ready: " + self.log_text()[-3000:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (children of the supervisor) when --workers > 1."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole server (supervisor and workers), as a crash would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
