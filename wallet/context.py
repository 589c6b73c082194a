"""What every ``machi-wallet`` command shares: the service, the keystore, the console, passwords."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import click
from eth_account.signers.local import LocalAccount
from rich.console import Console

from wallet.api import MachiApi
from wallet.keystore import load_account

__all__ = ["WalletContext", "pass_wallet"]


@dataclass
class WalletContext:
    """What every command shares: where the service is, where the key is, the console."""

    api_url: str
    keystore: Path
    console: Console = field(default_factory=Console)

    @cached_property
    def api(self) -> MachiApi:
        return MachiApi(self.api_url)

    def password(self, *, confirm: bool = False) -> str:
        """The wallet password: ``MACHI_WALLET_PASSWORD`` for scripts, else a hidden prompt."""
        from_env = os.environ.get("MACHI_WALLET_PASSWORD")
        if from_env:
            return from_env
        prompt = "New wallet password" if confirm else "Wallet password"
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm))

    def account(self) -> LocalAccount:
        """The unlocked wallet key."""
        return load_account(self.keystore, self.password())


pass_wallet = click.make_pass_decorator(WalletContext)
