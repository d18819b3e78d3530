"""Schema migrations of the case database: Alembic, run from code (the scripts ship in the package, no
alembic.ini needed).

`upgrade(url)` is what `livewarden db upgrade` runs; `SqlCaseRepository` runs it itself when it opens an
embedded SQLite store (`ensure`). A store made before migrations existed (by `create_all`: the tables, no
alembic_version) is stamped at the first revision and upgraded in place, keeping its rows and its chain.
"""

from __future__ import annotations

import time
from functools import cache

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

from livewarden.cases import db
from livewarden.errors import LivewardenError

if TYPE_CHECKING:  # Alembic is imported only to migrate: opening a store at HEAD does without it (0.1 s)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

SCRIPTS = "livewarden.cases:migrations"
HEAD = "0004"  # the newest revision in SCRIPTS (a test holds them equal)
_PG_LOCK = 0x6C77_6462  # "lwdb": one `upgrade` at a time on PostgreSQL (SQLite: the write lock does it)


def upgrade(url: str, to: str = "head") -> tuple[str | None, str]:
    """Bring the database at `url` to the newest schema (or to revision `to`) -> (revision before, revision after).

    The revision before is None for an empty database (and the first revision for a pre-migration store).
    """
    engine = db.engine(url)
    try:
        return _upgrade(engine, to)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    """The database's schema revision; None when it has none (empty, or made before migrations)."""
    engine = db.engine(url)
    try:
        with engine.connect() as connection:
            return _revision(connection)
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision this livewarden knows."""
    return HEAD


def ensure(engine: Engine, attempts: int = 10) -> None:
    """What the repository does at open: upgrade SQLite in place; refuse any other database not at `head`.

    Several processes may open a new SQLite store at once (a `watch`, consoles): the upgrade runs in a write
    transaction, so they take turns and the later ones find it done; "locked" still means look again.
    """
    with engine.connect() as connection:
        found = _revision(connection)
    if found == head():
        return
    if engine.dialect.name != "sqlite":
        raise LivewardenError(f"the case database is at schema {found or 'none'}, this livewarden needs "
                              f"{head()}: run `livewarden db upgrade`")
    for attempt in range(attempts):
        try:
            _upgrade(engine)
            return
        except OperationalError as exc:
            if not ("already exists" in str(exc) or "locked" in str(exc)) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _upgrade(engine: Engine, to: str = "head") -> tuple[str | None, str]:
    """Run the migrations in one write transaction: all of them or none, and one upgrader at a time."""
    from alembic import command

    with db.writer(engine).connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        before = _revision(connection)
        if before is None and inspect(connection).has_table("alerts"):
            before = _scripts().get_base()
            command.stamp(_config(connection), before)
        command.upgrade(_config(connection), to)
        return before, _revision(connection)


def _revision(connection: Connection) -> str | None:
    """The revision recorded in the database (Alembic's version table; None before the first migration)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _config(connection: Connection | None = None) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> "ScriptDirectory":
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())
