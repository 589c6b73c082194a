"""Wallet key commands: ``init`` and ``address``."""

from __future__ import annotations

import click

from wallet.context import WalletContext, pass_wallet
from wallet.help import LocalizedCommand
from wallet.keystore import create_keystore, keystore_address

__all__ = ["COMMANDS"]


@click.command(cls=LocalizedCommand)
@pass_wallet
def init(wallet: WalletContext) -> None:
    """Create a wallet: a new key in an encrypted keystore (never overwrites one)."""
    address = create_keystore(wallet.keystore, wallet.password(confirm=True))
    wallet.say("created_wallet", address=address)
    wallet.say("keystore_hint", path=wallet.keystore)


@click.command(cls=LocalizedCommand)
@pass_wallet
def address(wallet: WalletContext) -> None:
    """Print the wallet address."""
    click.echo(keystore_address(wallet.keystore))


COMMANDS = [init, address]
