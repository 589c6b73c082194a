"""The story's residents: a TEST My Number card each, a wallet home, and the real ``machi-wallet`` CLI.

Every secret a resident has (card PIN, signing password, wallet password, private key, the fictional
12-digit My Number they must never send) is made fresh per run and listed in ``secrets`` so the log scan
knows exactly what to look for.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account

from procedures.identity.mynumber import check_digit
from scripts.demo_tools import CliRun, DemoError, Transcript

__all__ = ["Person", "Resident", "fictional_my_number"]


@dataclass(frozen=True)
class Person:
    """A fictional card holder, as the TEST CA writes them into the signing certificate."""

    name: str
    birth_date: str
    sex: str
    address: str


def fictional_my_number() -> str:
    """12 random digits with a valid check digit (what a resident might type by mistake)."""
    first = "".join(secrets.choice(string.digits) for _ in range(11))
    return first + str(check_digit(first))


def _pin() -> str:
    """A random 4-digit card PIN, away from years and round amounts so the log scan stays exact."""
    while True:
        pin = f"{secrets.randbelow(9000) + 1000}"
        if not 1900 <= int(pin) <= 2199 and pin[-1] != "0" and len(set(pin)) > 2:
            return pin


def _token(prefix: str, alphabet: str = string.ascii_letters + string.digits) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(10))


@dataclass
class Resident:
    """One resident's device: wallet home, card file, the CLI, and what they know."""

    label: str
    person: Person
    home: Path
    api_url: str
    rpc_url: str
    transcript: Transcript
    pin: str = field(default_factory=_pin)
    signing_password: str = field(  # a card's is upper case
        default_factory=lambda: _token("SIGN", string.ascii_uppercase + string.digits))
    password: str = field(default_factory=lambda: _token("wallet-pass-"))
    my_number: str = field(default_factory=fictional_my_number)
    keystore: Path | None = None
    wallet: str = ""
    lost_wallets: list[str] = field(default_factory=list)
    private_keys: list[str] = field(default_factory=list)
    keystore_secrets: list[str] = field(default_factory=list)

    @property
    def card(self) -> Path:
        return self.home / "card.p12"

    @property
    def current_keystore(self) -> Path:
        return self.keystore or self.home / "keystore.json"

    def env(self) -> dict[str, str]:
        """The resident's terminal: where the service and their wallet are, passwords for scripting."""
        return {**os.environ, "MACHI_API_URL": self.api_url, "MACHI_WALLET_HOME": str(self.home),
                "MACHI_WALLET_PASSWORD": self.password, "MACHI_CARD_PIN": self.pin,
                "MACHI_CARD_SIGNING_PASSWORD": self.signing_password, "MACHI_RPC_URL": self.rpc_url,
                "COLUMNS": "200", "LANG": "C.UTF-8", "MACHI_WALLET_LANG": "en"}

    def cli(self, *args: str, ok: bool = True) -> CliRun:
        """``machi-wallet [--keystore K] ARGS`` as this resident."""
        keystore = ("--keystore", str(self.keystore)) if self.keystore else ()
        return self.transcript.run(self.label, "machi-wallet", *keystore, *args, env=self.env(), ok=ok)

    def issue_card(self, machi_env: dict[str, str]) -> CliRun:
        """``machi test-ca issue``: the city's TEST CA writes this resident's software card."""
        self.home.mkdir(parents=True, exist_ok=True)
        p = self.person
        return self.transcript.run(f"{self.label}'s card", "machi", "test-ca", "issue", p.name, "--birth-date",
                                   p.birth_date, "--sex", p.sex, "--address", p.address, "--pin", self.pin,
                                   "--signing-password", self.signing_password, "--out", str(self.card),
                                   env=machi_env)

    def new_wallet(self, keystore: Path | None = None) -> str:
        """``machi-wallet init`` (and ``address``); remembers the key for the log scan."""
        if self.wallet:
            self.lost_wallets.append(self.wallet)
        self.keystore = keystore
        self.cli("init")
        self.wallet = self.cli("address").stdout.strip()
        data = json.loads(self.current_keystore.read_text(encoding="utf-8"))
        key = Account.decrypt(data, self.password)
        self.private_keys += [key.hex().removeprefix("0x")]
        crypto = data.get("crypto") or data["Crypto"]
        self.keystore_secrets += [crypto["ciphertext"], crypto["mac"]]
        return self.wallet

    def link_card(self) -> CliRun:
        """``machi-wallet link-card --card soft:…``: card + wallet signatures, attested on chain."""
        run = self.cli("link-card", "--card", f"soft:{self.card}")
        if "confirmed" not in run.output:
            raise DemoError(f"{self.label}'s card link was not confirmed: {run.output[-300:]}")
        return run

    def apply(self, procedure: str, form: dict[str, object], name: str, ok: bool = True) -> tuple[CliRun, str]:
        """``machi-wallet apply PROCEDURE --form F.json``; (the run, the application id or '')."""
        path = self.home / f"{name}.json"
        path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
        run = self.cli("apply", procedure, "--form", str(path), "--yes", ok=ok)
        found = re.search(r"filed (\S+)", run.output)
        return run, found.group(1) if found else ""

    @property
    def secrets(self) -> dict[str, list[str]]:
        """What this resident knows and nobody's logs may show, by kind."""
        spaced = " ".join(self.my_number[i:i + 4] for i in range(0, 12, 4))
        p = self.person
        return {
            "my_number": [self.my_number, spaced, spaced.replace(" ", "-")],
            "card_pin": [self.pin],
            "card_signing_password": [self.signing_password],
            "wallet_password": [self.password],
            "private_key": self.private_keys,
            "keystore_secret": self.keystore_secrets,
            "personal_data": [p.name, p.name.replace(" ", ""), p.address, p.birth_date],
        }
