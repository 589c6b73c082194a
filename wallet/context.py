"""What every ``machi-wallet`` command shares: the service, the keystore, the language, the console, passwords."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chain.contracts.authorization import random_nonce, sign_transfer_authorization
from protocol.citytime import CityClock, city_clock
from wallet.api import MachiApi, WalletError
from wallet.i18n import Texts
from wallet.keystore import load_account

__all__ = ["WalletContext", "make_console", "pass_wallet"]


def make_console(color: bool | None) -> Console:
    """The command's console: colour on a terminal (``None``), always (``True``: also when piped) or never."""
    if color is None:
        return Console()
    if color:
        return Console(force_terminal=True)
    return Console(color_system=None)


@dataclass
class WalletContext:
    """What every command shares: where the service is, where the key is, the language, the console."""

    api_url: str
    keystore: Path
    lang: str = "ja"
    console: Console = field(default_factory=Console)
    password_file: Path | None = None

    @cached_property
    def api(self) -> MachiApi:
        return MachiApi(self.api_url)

    @cached_property
    def clock(self) -> CityClock:
        """The city's clock: every time shown is in its zone (``MACHI_CITY_TIMEZONE``, default Asia/Tokyo)."""
        return city_clock()

    @cached_property
    def t(self) -> Texts:
        """The wallet's words in the chosen language."""
        return Texts(self.lang)

    def say(self, key: str, **values: Any) -> None:
        """Print message ``key`` (its values are shown as they are, never read as markup)."""
        self.console.print(self.t(key, **{name: escape(str(value)) for name, value in values.items()}))

    def table(self, title: str | None = None, **options: Any) -> Table:
        """A table whose title never wraps (addresses and hashes in it stay whole and copyable)."""
        if title is not None:
            options.setdefault("min_width", cell_len(title) + 4)
        return Table(title=title, **options)

    def password(self, *, confirm: bool = False) -> str:
        """The wallet password: ``--password-file`` or ``MACHI_WALLET_PASSWORD`` for scripts, else a hidden prompt."""
        if self.password_file is not None:
            lines = self.password_file.read_text(encoding="utf-8").splitlines()
            return lines[0] if lines else ""
        from_env = os.environ.get("MACHI_WALLET_PASSWORD")
        if from_env:
            return from_env
        prompt = self.t("prompt_new_password" if confirm else "prompt_password")
        return str(click.prompt(prompt, hide_input=True,
                                confirmation_prompt=self.t("prompt_repeat") if confirm else False))

    def account(self) -> LocalAccount:
        """The unlocked wallet key."""
        return load_account(self.keystore, self.password())

    def logged_in(self) -> LocalAccount:
        """Unlock the key and log the wallet in (later ``auth=True`` requests carry its token)."""
        account = self.account()
        self.api.login(account)
        return account

    def transfer_authorization(self, account: LocalAccount, to: str, amount: int, ttl_s: int, *,
                               sequenced: bool = True) -> dict[str, Any]:
        """A signed ERC-3009 transfer of ``amount`` coins to ``to``, valid for ``ttl_s`` seconds, over the
        coin's EIP-712 domain as the service reports it; the API's JSON of it (call ``logged_in`` first).

        ``sequenced``: on the wallet's own nonce sequence (key 1, the number the service gives: the cheapest
        payment, relayed at once and in order). Otherwise a one-off random key, for what may be relayed
        later or never (an application fee), which must not hold up the payments signed after it."""
        coin = self.api.request("GET", "/v1/coin", auth=True)
        nonce = (bytes.fromhex(self.api.request("GET", "/v1/wallet/nonce", auth=True)["nonce"][2:])
                 if sequenced else random_nonce())
        auth = sign_transfer_authorization(account, coin["address"], coin["chain_id"], coin["name"], to, amount, 0,
                                           int(time.time()) + ttl_s, nonce, version=coin["version"])
        return auth.to_json()

    def pay(self, account: LocalAccount, to: str, amount: int, ttl_s: int,
            submit: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Sign a payment on the wallet's sequence and ``submit`` it; the service's answer. When another payment
        of this wallet took that number meanwhile (``nonce_used``: a second device, a second window), sign
        once more with the next number — the refused one moved nothing."""
        try:
            return submit(self.transfer_authorization(account, to, amount, ttl_s))
        except WalletError as exc:
            if exc.code != "nonce_used":
                raise
        return submit(self.transfer_authorization(account, to, amount, ttl_s))


pass_wallet = click.make_pass_decorator(WalletContext)
