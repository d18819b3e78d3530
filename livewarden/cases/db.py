"""Engines for the case database, as the repository and the migrations open it.

SQLite: WAL, so readers (console, API) read while a room thread writes; and we take over BEGIN from the
driver, which otherwise begins only at the first INSERT/UPDATE and so lets a transaction read before it holds
the write lock. A read transaction is a plain (deferred) BEGIN: one snapshot, no lock. A write transaction
(an engine from `writer`) is BEGIN IMMEDIATE: it holds the database's write lock before its first read, so
two processes cannot both read the same audit chain head and append after it.
"""

from __future__ import annotations

import random
import sqlite3
import time

from sqlalchemy import Engine, create_engine, event, make_url

_WRITE = "livewarden_write"
# SQLite reads the file through a memory map shared by every connection instead of copying pages into each
# connection's own 2 MB cache: over 100,000 alerts (267 MB) the API's server CPU per request went from 5.3 to
# 3.1-4.5 ms over 6 runs (benchmarks/api_load.py). Address space, not memory: the OS page cache backs it.
MMAP_BYTES = 1 << 30


def engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        # a server restart leaves the pool's connections dead: test each before use, so the store recovers
        # by itself when the database is back
        return create_engine(url, pool_pre_ping=True)
    # room by room threads, the API's workers and its key checks each hold a connection: beyond SQLAlchemy's
    # 5 + 10, one was opened (with its PRAGMAs) for every request under load
    in_memory = make_url(url).database in (None, "", ":memory:")
    sqlite = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           **({} if in_memory else {"pool_size": 40, "max_overflow": 10}))
    event.listen(sqlite, "connect", _sqlite_connect)
    event.listen(sqlite, "begin", _sqlite_begin)
    return sqlite


def unreachable(exc: BaseException) -> str | None:
    """Why the database could not be reached ("connection refused", ...), if that is what `exc` is; else None.
    (Never the URL or its password: the driver's own first line.)"""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if not isinstance(exc, DBAPIError):
        return None
    if not (exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))):
        return None
    return (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0][:200]


def writer(engine: Engine) -> Engine:
    """The same engine (pool, events) whose transactions are write transactions."""
    return engine.execution_options(**{_WRITE: True})


STATISTICS_EVERY_S = 3600.0
_SAMPLED_ROWS = 1000  # per index: SQLite's approximate ANALYZE (analysis_limit), milliseconds on any store


def refresh_statistics(engine: Engine) -> None:
    """Give SQLite's query planner the tables' statistics (the server does it at start and every hour).

    Without them it picks the first usable index: over 100,000 alerts a platform's list filtered by room or
    status walked the platform's index (30 ms) instead of the room's (2 ms). PostgreSQL's autovacuum keeps its
    own statistics.
    """
    if engine.dialect.name != "sqlite":
        return
    with writer(engine).begin() as conn:
        conn.exec_driver_sql(f"PRAGMA analysis_limit={_SAMPLED_ROWS}")
        conn.exec_driver_sql("ANALYZE")


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITE) else "BEGIN")


def _sqlite_connect(dbapi_conn, _record) -> None:
    """WAL, NORMAL sync (durable in WAL), reads through a memory map, and no BEGIN from the driver (see the
    module's docstring).

    Switching a new file to WAL needs it to ourselves; when another process is mid-way through creating the
    tables, SQLite answers "database is locked" at once (it does not wait, to avoid a deadlock), so look again.
    """
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.05))
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    finally:
        cur.close()
