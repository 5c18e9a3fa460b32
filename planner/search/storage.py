"""Optuna storage: a local journal file by default, any RDB URL on request; passwords never shown.

The default is a JournalStorage file beside the emitted plans (about 10x cheaper
per trial than SQLite here, safe for several processes on one machine, and
optuna-dashboard opens it). ``--storage`` takes what Optuna takes: an RDB URL
(``sqlite:///study.db``, ``postgresql://user:pass@host/db`` for workers on many
machines) or ``journal:PATH`` for a journal file elsewhere.

A plain ``postgresql://`` URL is opened with whichever PostgreSQL driver is
installed: SQLAlchemy's default for the scheme (psycopg2, or psycopg 3 from
SQLAlchemy 2.1 on) when present, else the other one (:func:`driver_url`; the
URL is still shown as the user typed it). Without either, the error says to
``pip install 'sparse2dense[postgres]'``. RDB storages record heartbeats of
running trials (planner/search/stale_trials.py says why and how long).

Journal files are locked with ``flock`` (:class:`JournalLock`) instead of
Optuna's lock files: the kernel drops an flock when its holder dies, so a
worker killed mid-write costs nothing, where a lock file left behind stalls
every other process for Optuna's 30 s grace period; waiters also wake the
moment the lock is free instead of polling with a back-off of up to a second.
Holding the lock, a writer first cuts a half-written last entry (a worker
killed mid-append), which would otherwise fuse with the next entry and leave
the journal unreadable.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from planner.contracts.errors import UserError
from planner.contracts.files import check_output_path

_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:)(?P<pw>[^@]*)(?P<tail>@)")
# Query parameters that carry a secret (or where one is kept), as database drivers name them.
_SECRET_KEYS = r"password|passwd|pwd|pass|sslpassword|passfile|sslkey|secret|token|api_key|apikey"
_QUERY_SECRET = re.compile(rf"(?P<head>[?&;](?:{_SECRET_KEYS})=)(?P<pw>[^&#\s'\"]*)", re.IGNORECASE)


def mask_url(text: str) -> str:
    """``text`` (a URL, or a message quoting one) with every password replaced by ***.

    A password hides in the userinfo (``user:pw@host``) or in the query
    (``?password=pw``, ``?sslpassword=pw``, ...); both are masked wherever they sit.
    """
    text = _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}***", text)


def _secrets_of(url: str) -> list[str]:
    """The URL's passwords as its parser reads them (decoded), to scrub from driver messages."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return []
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if re.fullmatch(_SECRET_KEYS, key, re.IGNORECASE):
            found += [value] if isinstance(value, str) else list(value)
    return [str(s) for s in found if len(str(s)) >= 3]


def mask_message(text: str, url: str) -> str:
    """A message about ``url`` with its passwords masked, also where a driver quotes them bare."""
    text = mask_url(text)
    for secret in _secrets_of(url):
        text = text.replace(secret, "***")
    return text


def storage_url(url: str | None, out_dir: Path) -> str:
    """What to open: the given URL, or the default journal file inside ``out_dir``."""
    return url or f"journal:{out_dir / 'study.journal'}"


class JournalLock:
    """Optuna's journal-file lock interface (acquire/release) on an flock of ``PATH.flock``.

    Every writer this package starts uses it; a tool that appends to the same journal with
    Optuna's default lock would not be excluded (reading, as optuna-dashboard does, is safe).
    """

    def __init__(self, journal_path: str):
        self.journal_path = journal_path
        self.lock_path = journal_path + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        _cut_partial_entry(self.journal_path)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _cut_partial_entry(path: str) -> None:
    """Truncate the journal after its last complete line (called holding the lock)."""
    try:
        f = open(path, "rb+")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return
    with f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        keep = size
        while keep > 0:  # the partial entry is short: read back in small steps
            start = max(0, keep - 65536)
            f.seek(start)
            cut = f.read(keep - start).rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            keep = start
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())


POSTGRES_EXTRA = "pip install 'sparse2dense[postgres]'"
_PG_DRIVERS = ("psycopg", "psycopg2")  # the DBAPI modules SQLAlchemy's postgresql dialects import


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _default_pg_driver() -> str:
    """The driver SQLAlchemy picks for a plain ``postgresql://`` (psycopg2 before 2.1, psycopg after)."""
    try:
        from sqlalchemy.dialects import postgresql

        return str(postgresql.dialect.driver)
    except Exception:
        return "psycopg2"


def driver_url(url: str) -> str:
    """``url`` with a PostgreSQL driver that is installed; a UserError when none is.

    A plain ``postgresql://`` keeps SQLAlchemy's default driver when that is
    installed and gets the other one (``postgresql+psycopg://`` or
    ``postgresql+psycopg2://``) when only that is. A URL naming psycopg or
    psycopg2 must have it installed. Other URLs are returned as they are.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0].lower() != "postgresql":
        return url
    dialect, _, driver = scheme.partition("+")
    if driver:
        if driver.lower() in _PG_DRIVERS and not _installed(driver.lower()):
            raise UserError(
                f"cannot open Optuna storage {mask_url(url)}: its driver {driver} is not installed; {POSTGRES_EXTRA} installs psycopg 3 (then a plain postgresql:// URL works), or pip install {driver}."
            )
        return url
    default = _default_pg_driver()
    for module in (default, *(d for d in _PG_DRIVERS if d != default)):
        if _installed(module):
            return url if module == default else f"{dialect}+{module}://{rest}"
    raise UserError(
        f"cannot open Optuna storage {mask_url(url)}: no PostgreSQL driver is installed; {POSTGRES_EXTRA} (psycopg 3) and run again."
    )


# What a database says when another process created the same schema a moment earlier.
_SCHEMA_RACE = ("already exists", "duplicate key", "UNIQUE constraint")


def _open_rdb(url: str, attempts: int = 3) -> Any:
    """RDBStorage with trial heartbeats, tolerating another process that creates a new
    database's tables at the same time.

    Optuna creates the schema when it opens a database that has none; two
    ``s2d plan`` processes started together on a new SQLite file (or a new
    PostgreSQL database) race, and the loser fails on a table that now exists.
    Opening again finds the schema in place.
    """
    import time
    import warnings

    import optuna

    from planner.search.stale_trials import heartbeat_settings

    interval, grace = heartbeat_settings()
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 4 and 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=interval, grace_period=grace
                )
        except Exception as e:
            if attempt == attempts - 1 or not any(m in str(e) for m in _SCHEMA_RACE):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


# How every Optuna journal file begins (its first entry, as JournalFileBackend writes it).
_JOURNAL_START = b'{"op_code":'
_SQLITE_START = b"SQLite format 3\x00"


def _refuse_foreign_file(path: Path, start: bytes, what: str) -> None:
    """Refuse a storage path that exists and holds something else: opening it would change it.

    An empty file is taken as a new store; anything else must begin as ``what`` does.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(len(start))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return
    except OSError as e:
        raise UserError(
            f"cannot read storage file {path} ({e.strerror}); check its permissions."
        ) from None
    if head and not start.startswith(head):  # a prefix: a store killed in its first write
        raise UserError(
            f"storage file {path} exists and is not {what}; it was left as it is. Give --storage a new file name (or one an earlier `s2d plan` wrote), or leave --storage out for a journal in --out."
        )


def storage_file(url: str) -> tuple[Path, bytes, str] | None:
    """The local file behind a journal or SQLite URL, how it begins and what it is; else None."""
    if url.startswith("journal:"):
        return Path(url[len("journal:") :]).expanduser(), _JOURNAL_START, "an Optuna journal"
    if url.startswith("sqlite:"):
        try:
            from sqlalchemy.engine import make_url

            database = make_url(url).database
        except Exception:  # a malformed URL: opening it reports the problem
            return None
        if database and database != ":memory:" and not database.startswith("file:"):
            return Path(database).expanduser(), _SQLITE_START, "an SQLite database"
    return None


def check_storage_path(url: str, write: bool = False) -> None:
    """A UserError when the URL's file exists and is not what it says (journal or SQLite),
    and, with ``write``, when it could not be created or written there (a read-only file
    system, a directory this user may not write): refused before anything is made."""
    found = storage_file(url)
    if found is None:
        return
    path, start, what = found
    if path.is_dir():
        example = (
            f"journal:{path / 'study.journal'}"
            if url.startswith("journal:")
            else f"sqlite:///{path / 'study.db'}"
        )
        raise UserError(
            f"storage file {path} is a directory; give a file in it, e.g. --storage {example}."
        )
    _refuse_foreign_file(path, start, what)
    if write:
        check_output_path(path, "file", "storage file")


def open_storage(url: str) -> Any:
    import optuna

    check_storage_path(url)
    opened = driver_url(url)
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend

            path = Path(url[len("journal:") :]).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = JournalFileBackend(str(path), lock_obj=JournalLock(str(path)))  # type: ignore[arg-type]
            return optuna.storages.JournalStorage(backend)
        return _open_rdb(opened)
    except UserError:
        raise
    except (ImportError, ValueError, OSError) as e:
        raise UserError(
            f"cannot open Optuna storage {mask_url(url)} ({type(e).__name__}: {mask_message(str(e), url)}). Use sqlite:///FILE.db, postgresql://USER:PASSWORD@HOST/DB (needs a driver: {POSTGRES_EXTRA}) or journal:FILE."
        ) from None
    except (
        Exception
    ) as e:  # sqlalchemy errors (bad driver, unreachable server) are not ours to import
        # sqlalchemy.exc.OperationalError from a server: it refused us or is not there
        if type(e).__name__ == "OperationalError" and not url.startswith("sqlite:"):
            raise UserError(
                f"cannot reach the database of Optuna storage {mask_url(url)}: {mask_message(str(e), url).splitlines()[0]}. Check that the server is running and that the host, port, user, password and database name in the URL are right."
            ) from None
        raise UserError(
            f"cannot open Optuna storage {mask_url(url)}: {mask_message(str(e), url).splitlines()[0]}. Check the URL, the driver and that the server is reachable."
        ) from None
