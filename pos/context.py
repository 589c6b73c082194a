"""What every ``machi-pos`` command shares: the service, the merchant's key, the language, the console."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from pos.api import MerchantApi, PosError
from pos.i18n import Texts

__all__ = ["PosContext", "make_console", "pass_pos", "read_key"]

KEY_PREFIX = "mk_"


def make_console(color: bool | None) -> Console:
    """The command's console: colour on a terminal (``None``), always (``True``) or never (``False``)."""
    if color is None:
        return Console(highlight=False)
    if color:
        return Console(force_terminal=True, highlight=False)
    return Console(color_system=None, highlight=False)


def read_key(key_file: Path | None, environ: dict[str, str] | os._Environ[str], texts: Texts) -> str:
    """The merchant API key: from ``key_file`` (its first line), else ``MACHI_POS_API_KEY``, else a hidden prompt.

    Raises:
        PosError: the file cannot be read, or what it holds is not a merchant key (the key itself is never
            part of the message).
    """
    if key_file is not None:
        try:
            lines = key_file.read_text(encoding="utf-8").strip().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise PosError.of("key_file_unreadable", path=str(key_file), problem=type(exc).__name__) from None
        key = lines[0].strip() if lines else ""
    elif environ.get("MACHI_POS_API_KEY"):
        key = environ["MACHI_POS_API_KEY"].strip()
    else:
        key = str(click.prompt(texts("prompt_key"), hide_input=True)).strip()
    if not key.startswith(KEY_PREFIX) or len(key) < 12 or any(c.isspace() for c in key):
        raise PosError.of("key_malformed")
    return key


@dataclass
class PosContext:
    """Where the service is, how to find the key, the language, the console."""

    api_url: str
    key_file: Path | None
    lang: str = "ja"
    console: Console = field(default_factory=Console)

    @cached_property
    def t(self) -> Texts:
        return Texts(self.lang)

    @cached_property
    def api(self) -> MerchantApi:
        """The merchant API with the key (read once, on first use)."""
        return MerchantApi(self.api_url, read_key(self.key_file, os.environ, self.t))

    def say(self, key: str, **values: Any) -> None:
        """Print message ``key`` (values shown as they are, never read as markup), flushed at once: a
        customer display or a script may be reading the other end of a pipe."""
        self.console.print(self.t(key, **{name: escape(str(value)) for name, value in values.items()}),
                           soft_wrap=True)  # ids and addresses stay whole (the terminal wraps, not us)
        self.flush()

    def flush(self) -> None:
        self.console.file.flush()
        sys.stdout.flush()


pass_pos = click.make_pass_decorator(PosContext)
