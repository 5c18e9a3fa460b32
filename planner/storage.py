"""Optuna storage: a local journal file by default, any RDB URL on request; passwords never shown.

The default is a JournalStorage file beside the emitted plans (about 10x cheaper
per trial than SQLite here, safe for several processes on one machine, and
optuna-dashboard opens it). ``--storage`` takes what Optuna takes: an RDB URL
(``sqlite:///study.db``, ``postgresql://user:pass@host/db`` for workers on many
machines) or ``journal:PATH`` for a journal file elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from planner.errors import UserError

_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:)(?P<pw>[^@]*)(?P<tail>@)")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print or store."""
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", url)


def storage_url(url: str | None, out_dir: Path) -> str:
    """What to open: the given URL, or the default journal file inside ``out_dir``."""
    return url or f"journal:{out_dir / 'study.journal'}"


def open_storage(url: str) -> Any:
    import optuna

    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend

            path = Path(url[len("journal:") :]).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        return optuna.storages.RDBStorage(url)
    except (ImportError, ValueError, OSError) as e:
        raise UserError(
            f"cannot open Optuna storage {mask_url(url)} ({type(e).__name__}: {mask_url(str(e))}). Use sqlite:///FILE.db, postgresql://USER:PASSWORD@HOST/DB (needs a driver such as psycopg2) or journal:FILE."
        ) from None
    except (
        Exception
    ) as e:  # sqlalchemy errors (bad driver, unreachable server) are not ours to import
        raise UserError(
            f"cannot open Optuna storage {mask_url(url)}: {mask_url(str(e)).splitlines()[0]}. Check the URL, the driver and that the server is reachable."
        ) from None
