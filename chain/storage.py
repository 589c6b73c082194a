"""Database plumbing shared by the relayer (chain/) and the service (procedures/).

One declarative ``Base`` for every table, an engine factory tuned per backend (SQLite in WAL
mode with a busy timeout; PostgreSQL through psycopg 3), and ``KeyLock``: the guarantee that
only one process sends for a given key (a PostgreSQL advisory lock, or a file lock for SQLite).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every Machi Ledger table."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def make_engine(url: str, schema: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite gets WAL + busy timeout; PostgreSQL a pool and an optional schema.

    Args:
        url: SQLAlchemy URL (``sqlite:///…`` or ``postgresql+psycopg://…``).
        schema: PostgreSQL only — put every table in this schema (tests use one per run).
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=40, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # Let SQLAlchemy issue BEGIN itself so "BEGIN IMMEDIATE" can serialise writers.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside one transaction: committed on success, rolled back on any exception."""
    with factory() as session, session.begin():
        yield session


class KeyLock:
    """Exclusive ownership of a named key across processes (and machines, on PostgreSQL).

    PostgreSQL: ``pg_try_advisory_lock`` held on a dedicated connection for as long as the
    owner lives — if the process dies the server releases it. SQLite: a file lock next to the
    database file, released by the OS when the process dies.
    """

    def __init__(self, engine: Engine, name: str, lock_dir: Path) -> None:
        self.engine = engine
        self.name = name
        self._lock_dir = lock_dir
        self._connection: Connection | None = None
        self._file_lock: FileLock | None = None
        self._scope = ""

    @property
    def _pg_key(self) -> int:
        scoped = self._scope + self.name
        return int.from_bytes(hashlib.sha256(scoped.encode()).digest()[:8], "big", signed=True)

    @property
    def held(self) -> bool:
        """True while this object owns the lock."""
        return self._connection is not None or self._file_lock is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never blocks."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect()
            # Advisory locks are server-wide: scope the key to this database and schema so that
            # separate deployments (or test runs) sharing a server never wait for each other.
            database, schema = connection.execute(text("SELECT current_database(), current_schema()")).one()
            self._scope = f"{database}/{schema}/"
            key = self._pg_key
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            connection.commit()
            if got:
                self._connection = connection
            else:
                connection.close()
            return got
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        safe = hashlib.sha256(self.name.encode()).hexdigest()[:24]
        lock = FileLock(str(self._lock_dir / f"{safe}.lock"), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        self._file_lock = lock
        return True

    def release(self) -> None:
        """Give the lock up (closing the dedicated connection on PostgreSQL)."""
        if self._connection is not None:
            try:
                # The connection goes back to a pool, so unlock explicitly rather than on close.
                self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._pg_key})
                self._connection.commit()
                self._connection.close()
            finally:
                self._connection = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None
