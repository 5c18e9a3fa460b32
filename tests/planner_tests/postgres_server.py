"""A throwaway PostgreSQL server for the storage tests: initdb into a temporary directory, pg_ctl
start on 127.0.0.1 at a free port (and a private unix socket), trust authentication, always
stopped with ``pg_ctl stop -m immediate``.

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user (its
directory chowned to it, the commands run through ``runuser`` or ``setpriv``); as any other user
it belongs to that user. Absent binaries, no usable user or no driver skip with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "s2d"  # the cluster's superuser (trust: no password is checked)
PASSWORD = "pg-hunter2"  # put in the URLs anyway, to check that it is never shown
BINARIES = ("initdb", "pg_ctl", "postgres")


class Unavailable(Exception):
    """Why no server can be started here (the tests skip with it)."""


def find_bindir() -> Path:
    """The directory with initdb, pg_ctl and postgres: PATH, /usr/local/bin, /usr/lib/postgresql."""
    candidates = [Path(p).parent for p in (shutil.which("initdb"),) if p]
    candidates.append(Path("/usr/local/bin"))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=lambda p: int(Path(p).parent.name))][::-1]
    for d in candidates:
        if all((d / b).is_file() and os.access(d / b, os.X_OK) for b in BINARIES):
            return d
    raise Unavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, in /usr/local/bin "
        "or /usr/lib/postgresql/*/bin; install PostgreSQL (e.g. apt-get install postgresql) to run "
        "these tests"
    )


def _as_user() -> tuple[list[str], int, int]:
    """(command prefix, uid, gid) that runs the server's commands as a user initdb accepts."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable(
            "running as root and there is no 'postgres' user to own the cluster"
        ) from None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], pw.pw_uid, pw.pw_gid
    if shutil.which("setpriv"):
        prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]
        return [*prefix, "--"], pw.pw_uid, pw.pw_gid
    raise Unavailable("running as root without runuser or setpriv to start the server as postgres")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def driver_available() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in ("psycopg", "psycopg2"))


@dataclass
class PostgresServer:
    base: Path  # the temporary directory: data/, sock/, server.log
    port: int
    bindir: Path
    prefix: list[str]
    databases: int = 0  # made so far

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    def url(self, database: str = "postgres", password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its plain postgresql:// URL (with a password, which trust ignores)."""
        import sqlalchemy

        from planner.search.storage import driver_url

        engine = sqlalchemy.create_engine(driver_url(self.url()), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        self.databases += 1
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _run(prefix: list[str], cmd: list[str], cwd: Path, timeout: float = 60) -> None:
    done = subprocess.run(
        [*prefix, *cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr or done.stdout}"
        )


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server in a new temporary directory; stop it and remove the directory on exit."""
    bindir = find_bindir()
    prefix, uid, gid = _as_user()
    # straight under the system temporary directory: the server's user must reach it, and
    # pytest's own temporary directories are private to this user
    base = Path(tempfile.mkdtemp(prefix="s2d-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    for p in (base, sock):
        os.chown(p, uid, gid)
    server = PostgresServer(base, 0, bindir, prefix)
    pg_ctl = str(bindir / "pg_ctl")
    try:
        _run(
            prefix,
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER]
            + ["-E", "UTF8", "--no-sync", "--no-instructions"],
            base,
        )
        for attempt in range(3):  # a free port may be taken before the server binds it
            server.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {server.port} -k {sock} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40"
            )
            try:
                _run(
                    prefix,
                    [pg_ctl, "-D", str(data), "-l", str(server.log), "-w", "-t", "30"]
                    + ["-o", options, "start"],
                    base,
                )
                break
            except RuntimeError as e:
                if attempt == 2:
                    raise RuntimeError(f"{e}\nserver log:\n{server.log_tail()}") from None
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "stop", "-m", "immediate", "-w", "-t", "30"],
                cwd=base,
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)
