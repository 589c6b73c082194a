"""What every benchmark needs: a throwaway database (SQLite in a temp dir, or a fresh schema on
the PostgreSQL of ``DATABASE_URL``) that is dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid

from sqlalchemy import Engine, create_engine, text

from procedures.config import normalise_database_url


def bench_database() -> tuple[str, str | None, Engine | None]:
    """(SQLAlchemy URL, PostgreSQL schema or None, admin engine or None) for one benchmark run."""
    raw = os.environ.get("DATABASE_URL")
    if not raw:
        return f"sqlite:///{tempfile.mkdtemp(prefix='machi-bench-')}/bench.db", None, None
    url = normalise_database_url(raw)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return url, schema, admin


def drop_bench_database(schema: str | None, admin: Engine | None) -> None:
    """Drop the schema made by ``bench_database`` (nothing to do for SQLite)."""
    if admin is None or schema is None:
        return
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
