"""A throwaway PostgreSQL server for the tests: initdb into a temporary folder, pg_ctl start.

It listens on a free loopback port with its socket in that folder, fsync off (a test
database need not survive a power cut). Connections over the socket are trusted; over TCP,
which the tests use, the password is checked (scram-sha-256), so a wrong one is refused
and every URL has a password to keep out of regwatch's output. As root, the server binaries run
as the `postgres` user (PostgreSQL refuses to run as root), which gets the folder.
`PostgresServer.missing()` says why no server can be started here, for a skip reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

TEMPLATE = "regwatch_template"
PASSWORD = "s3cret-pg-pw"


def server_binaries() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server; `url(name)` names a database on it, `create_database` makes one."""

    @staticmethod
    def missing() -> str | None:
        """Why no server can be started here (a skip reason), or None."""
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError:
            return "psycopg is not installed: pip install '.[postgres]'"
        if server_binaries() is None:
            return (
                "PostgreSQL's server (initdb, pg_ctl) is not installed: apt-get install postgresql"
            )
        if os.geteuid() == 0 and not shutil.which("runuser"):
            return "running as root without runuser to start PostgreSQL as another user"
        return None

    def __init__(self) -> None:
        bin_dir = server_binaries()
        assert bin_dir is not None
        self.bin = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="rw-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_user:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self.port = 0
        self.start()
        self._template_made = False

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.folder,
        )

    def start(self) -> None:
        """Start the server (on the same port as before, if it ran already)."""
        for attempt in range(5):
            port = self.port or _free_port()
            options = (
                f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
            except subprocess.CalledProcessError:
                if self.port or attempt == 4:
                    log = self.log.read_text()
                    raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
                continue  # the port was taken meanwhile: another one
            self.port = port
            return

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement on the `postgres` database, outside a transaction."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, migrated: bool = True) -> str:
        """A fresh regwatch database (a copy of a template migrated once); its URL.

        Not `migrated`: an empty database.
        """
        if not migrated:
            self.admin(f"CREATE DATABASE {name}")
            return self.url(name)
        if not self._template_made:
            from watcher.store import Store

            self.admin(f"CREATE DATABASE {TEMPLATE}")
            Store(self.url(TEMPLATE)).close()
            self._template_made = True
        self.admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")  # -w: returns once the server has exited
        shutil.rmtree(self.folder, ignore_errors=True)
