"""The service's database: engine and sessions from settings, migrations on start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from chain.storage import Base, make_engine, make_session_factory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

__all__ = ["Base", "alembic_config", "make_engine", "make_session_factory", "migrate", "table_names"]


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema up to ``revision`` (run on every start; a no-op when current).

    Domains (identity, payments, procedures) keep their own migration branches off the shared
    base revision, so ``heads`` applies all of them. The migrations' ``env.py`` imports every
    model module, so ``Base.metadata`` knows all tables afterwards.
    """
    command.upgrade(alembic_config(engine), revision)


def table_names(engine: Engine) -> list[str]:
    """Tables present in the database (for health checks and tests)."""
    return sorted(inspect(engine).get_table_names())
