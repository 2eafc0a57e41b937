"""A throwaway PostgreSQL server for the test suite (about one second to start)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found; install Debian's postgresql package"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl in a temp dir; runs as the postgres user when we are root."""

    def __init__(self, options: str = "") -> None:
        # options: more server settings, e.g. "-c shared_preload_libraries=..."
        self.options = options
        self.bin = _bin_dir()
        self.base = Path(tempfile.mkdtemp(prefix="ospost-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")

    def _run(self, *args: str, check: bool = True) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=check, capture_output=True)

    def start(self) -> str:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections=300 {self.options}"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "pg.log"),
            "-w", "-o", options, "start",
        )  # fmt: skip
        return self.url

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=300"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "pg.log"),
            "-w", "-o", options, "start",
        )  # fmt: skip

    def destroy(self) -> None:
        try:  # it may already be down (a test stops it on purpose)
            self._run(
                "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False
            )
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
