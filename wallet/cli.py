"""``machi-wallet`` — the resident's command line.

    machi-wallet init                         create a wallet (encrypted keystore)
    machi-wallet address                      show the wallet address
    machi-wallet link-card --card soft:PATH   link the wallet to a My Number card (or --card pcsc)
    machi-wallet whoami                       your identity, on and off chain
    machi-wallet recover --card … --lost 0x…  from a NEW wallet: take over a lost wallet's identity and coins
    machi-wallet renew --card …               re-verify the card before the attestation expires

Shared options (``--api-url`` / ``MACHI_API_URL``, ``--keystore`` / ``MACHI_WALLET_HOME``, ``--lang`` /
``MACHI_WALLET_LANG``, ``--color/--no-color``) live on the group; commands get them through
``wallet.context.WalletContext``.  The wallet speaks Japanese unless told (or the locale says) otherwise
(``wallet.i18n``).  Commands live in ``wallet.commands.*`` and
are registered at the bottom of this module — add new command modules there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from protocol.errors import ProtocolError
from wallet.api import DEFAULT_API_URL, WalletError
from wallet.commands import account, identity, offline, payments, procedures
from wallet.context import WalletContext, make_console
from wallet.help import help_language, japanese_group_help
from wallet.i18n import LANGS, Texts, choose_language
from wallet.keystore import KeystoreError, default_keystore

__all__ = ["main"]


class WalletFailure(click.ClickException):
    """One line on stderr — "エラー: …" / "Error: …" — and exit status 1 (no traceback)."""

    def __init__(self, message: str, texts: Texts) -> None:
        super().__init__(message)
        self.texts = texts

    def show(self, file: Any = None) -> None:
        click.echo(f"{self.texts('error')}: {self.format_message()}", err=True)


class WalletGroup(click.Group):
    """Turns the errors a user can cause or fix into one line in their language (no traceback); its help in
    that language too."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if help_language(ctx) != "ja":
            return super().format_help(ctx, formatter)
        with japanese_group_help(self):
            return super().format_help(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (WalletError, KeystoreError, ProtocolError) as exc:  # card errors: wrong PIN, locked card, no reader
            texts = _texts(ctx)
            raise WalletFailure(texts.error(exc), texts) from None
        except click.Abort:  # a "no" to a confirmation, or no terminal to answer a prompt on
            texts = _texts(ctx)
            hint = "" if sys.stdin.isatty() else " " + texts("no_terminal")
            raise WalletFailure(texts("aborted") + hint, texts) from None


def _note_language(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Eager, so that ``--lang en --help`` already knows the language."""
    ctx.meta["machi.lang"] = value
    return value


def _texts(ctx: click.Context) -> Texts:
    wallet = ctx.obj
    return wallet.t if isinstance(wallet, WalletContext) else Texts(choose_language(None, os.environ))


@click.group(cls=WalletGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", envvar="MACHI_API_URL", default=DEFAULT_API_URL, show_default=True,
              help="Machi Ledger service (env MACHI_API_URL)")
@click.option("--keystore", "keystore", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="keystore file (default $MACHI_WALLET_HOME/keystore.json, ~/.machi-wallet/keystore.json)")
@click.option("--lang", type=click.Choice(LANGS), default=None, is_eager=True, callback=_note_language,
              help="ja (default) or en (env MACHI_WALLET_LANG; else from the locale)")
@click.option("--color/--no-color", "color", default=None,
              help="colour even when piped, or never (default: only on a terminal)")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              envvar="MACHI_WALLET_PASSWORD_FILE",
              help="read the wallet password from this file's first line (scripts; env MACHI_WALLET_PASSWORD_FILE; "
                   "MACHI_WALLET_PASSWORD gives it directly; else it is asked for, hidden)")
@click.version_option(package_name="machi-ledger", prog_name="machi-wallet")
@click.pass_context
def main(ctx: click.Context, api_url: str, keystore: Path | None, lang: str | None, color: bool | None,
         password_file: Path | None) -> None:
    """The Machi Ledger resident wallet (まちレジャー 住民ウォレット)."""
    ctx.obj = WalletContext(api_url=api_url, keystore=keystore or default_keystore(),
                            lang=choose_language(lang, os.environ), console=make_console(color),
                            password_file=password_file)


#: Command modules; each exposes ``COMMANDS``.  Add yours here.
COMMAND_MODULES = (account, identity, procedures, payments, offline)

for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":
    main()
