"""What every ``machi-wallet`` command shares: the service, the keystore, the console, passwords."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from rich.console import Console

from chain.contracts.authorization import random_nonce, sign_transfer_authorization
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

    def logged_in(self) -> LocalAccount:
        """Unlock the key and log the wallet in (later ``auth=True`` requests carry its token)."""
        account = self.account()
        self.api.login(account)
        return account

    def transfer_authorization(self, account: LocalAccount, to: str, amount: int, ttl_s: int) -> dict[str, Any]:
        """A signed ERC-3009 transfer of ``amount`` coins to ``to``, valid for ``ttl_s`` seconds, over the
        coin's EIP-712 domain as the service reports it; the API's JSON of it (call ``logged_in`` first)."""
        coin = self.api.request("GET", "/v1/coin", auth=True)
        auth = sign_transfer_authorization(account, coin["address"], coin["chain_id"], coin["name"], to, amount, 0,
                                           int(time.time()) + ttl_s, random_nonce(), version=coin["version"])
        return auth.to_json()


pass_wallet = click.make_pass_decorator(WalletContext)
