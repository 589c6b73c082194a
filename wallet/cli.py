"""``machi-wallet`` — the resident's command line.

    machi-wallet init                         create a wallet (encrypted keystore)
    machi-wallet address                      show the wallet address
    machi-wallet link-card --card soft:PATH   link the wallet to a My Number card (or --card pcsc)
    machi-wallet whoami                       your identity, on and off chain
    machi-wallet recover --card … --lost 0x…  from a NEW wallet: take over a lost wallet's identity and coins
    machi-wallet renew --card …               re-verify the card before the attestation expires

Shared options (``--api-url`` / ``MACHI_API_URL``, ``--keystore`` / ``MACHI_WALLET_HOME``) live on the
group; commands get them through ``wallet.context.WalletContext``.  Commands live in ``wallet.commands.*`` and
are registered at the bottom of this module — add new command modules there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from protocol.errors import ProtocolError
from wallet.api import DEFAULT_API_URL, WalletError
from wallet.commands import account, identity, payments, procedures
from wallet.context import WalletContext
from wallet.keystore import KeystoreError, default_keystore

__all__ = ["main"]


class WalletGroup(click.Group):
    """Turns the errors a user can cause or fix into one line and exit status 1 (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (WalletError, KeystoreError) as exc:
            raise click.ClickException(str(exc)) from None
        except ProtocolError as exc:  # card errors (wrong PIN, retries left; locked card; no reader), bad statements
            raise click.ClickException(exc.message) from None


@click.group(cls=WalletGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", envvar="MACHI_API_URL", default=DEFAULT_API_URL, show_default=True,
              help="Machi Ledger service (env MACHI_API_URL)")
@click.option("--keystore", "keystore", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="keystore file (default $MACHI_WALLET_HOME/keystore.json, ~/.machi-wallet/keystore.json)")
@click.version_option(package_name="machi-ledger", prog_name="machi-wallet")
@click.pass_context
def main(ctx: click.Context, api_url: str, keystore: Path | None) -> None:
    """The Machi Ledger resident wallet."""
    ctx.obj = WalletContext(api_url=api_url, keystore=keystore or default_keystore())


#: Command modules; each exposes ``COMMANDS``.  Add yours here.
COMMAND_MODULES = (account, identity, procedures, payments)

for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":
    main()
