"""``machi-pos`` — the merchant's counter program.

    machi-pos whoami                        the merchant the key belongs to
    machi-pos charge 1200 -d "加賀棒茶"     a payment request, its QR, wait for the payment, the receipt
    machi-pos card-pay 1200 --card pcsc     the customer pays with the My Number card and PIN, no phone
    machi-pos receipt pr_…                  a receipt again (--pdf FILE)
    machi-pos refund pr_…                   give coins back
    machi-pos statement [--date D]          the day's payments and refunds
    machi-pos offline-sync | offline-accept CODE | offline-relay | offline-list
                                            offline payments: accepted with no network, relayed later

It talks only to the public merchant API with the merchant's API key: ``--key-file FILE`` (env
``MACHI_POS_KEY_FILE``), else ``MACHI_POS_API_KEY``, else a hidden prompt — never an argument on the command
line (other users can read those) and never echoed. Japanese unless ``--lang en`` / ``MACHI_POS_LANG`` or
the locale say otherwise. Like ``machi-wallet`` it imports nothing of the service (``tests/test_imports.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from pos import card, counter, offline, statement
from pos.api import DEFAULT_API_URL, PosError
from pos.context import PosContext, make_console, pass_pos
from pos.i18n import LANGS, Texts, pos_language
from protocol.errors import ProtocolError

__all__ = ["main"]


class PosFailure(click.ClickException):
    """One line on stderr — "エラー: …" / "Error: …" — and exit status 1 (no traceback)."""

    def __init__(self, message: str, texts: Texts) -> None:
        super().__init__(message)
        self.texts = texts

    def show(self, file: Any = None) -> None:
        click.echo(f"{self.texts('error')}: {self.format_message()}", err=True)


class PosGroup(click.Group):
    """Errors a cashier can cause or fix become one line in their language."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (PosError, ProtocolError) as exc:
            texts = _texts(ctx)
            raise PosFailure(texts.error(exc), texts) from None
        except click.Abort:
            texts = _texts(ctx)
            hint = "" if sys.stdin.isatty() else " " + texts("no_terminal")
            raise PosFailure(texts("aborted") + hint, texts) from None


def _texts(ctx: click.Context) -> Texts:
    pos = ctx.obj
    return pos.t if isinstance(pos, PosContext) else Texts(pos_language(None, os.environ))


@click.group(cls=PosGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", envvar="MACHI_API_URL", default=DEFAULT_API_URL, show_default=True,
              help="Machi Ledger service (env MACHI_API_URL)")
@click.option("--key-file", envvar="MACHI_POS_KEY_FILE", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="file holding the merchant API key (env MACHI_POS_KEY_FILE; else MACHI_POS_API_KEY, "
              "else asked)")
@click.option("--lang", type=click.Choice(LANGS), default=None, help="ja (default) or en (env MACHI_POS_LANG)")
@click.option("--color/--no-color", "color", default=None, help="colour even when piped, or never")
@click.version_option(package_name="machi-ledger", prog_name="machi-pos")
@click.pass_context
def main(ctx: click.Context, api_url: str, key_file: Path | None, lang: str | None, color: bool | None) -> None:
    """The Machi Ledger merchant counter (まちレジャー 加盟店レジ)."""
    ctx.obj = PosContext(api_url=api_url, key_file=key_file, lang=pos_language(lang, os.environ),
                         console=make_console(color))


@click.command()
@pass_pos
def whoami(pos: PosContext) -> None:
    """The merchant the API key belongs to."""
    merchant = pos.api.merchant()
    pos.say("logged_in", name=merchant["display_name"], id=merchant["id"])


for _command in (whoami, *counter.COMMANDS, *card.COMMANDS, *statement.COMMANDS, *offline.COMMANDS):
    main.add_command(_command)


if __name__ == "__main__":
    main()
