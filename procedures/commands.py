"""What every ``machi`` command module shares: its two consoles, one-line failures, and the settings
and runtime a command runs on (a bad configuration is one clear line, never a traceback)."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from chain.errors import MachiError
from procedures.config import Settings, get_settings
from procedures.runtime import Runtime

__all__ = ["err", "fail", "out", "runtime_or_exit", "settings_or_exit"]

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}")
    sys.exit(code)


def settings_or_exit(code: int = 1) -> Settings:
    """The settings from the environment, or exit naming the variable pydantic found wrong."""
    try:
        return get_settings()
    except Exception as exc:  # noqa: BLE001 - pydantic says exactly which variable is wrong
        fail(f"bad configuration: {exc}", code)


def runtime_or_exit(*, run_migrations: bool = True, code: int = 1) -> Runtime:
    """A runtime on the environment's settings, or exit with one line (bad settings, no database…)."""
    settings = settings_or_exit(code)
    try:
        return Runtime.create(settings, run_migrations=run_migrations)
    except (MachiError, ValueError) as exc:
        fail(str(exc), code)
