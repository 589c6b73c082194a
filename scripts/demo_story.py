"""The whole story of Machi Ledger, step by step, against a running service (``make run``) and its chain.

Two residents link their TEST My Number cards; one tops up ¥10,000 and gets the premium; a merchant is
onboarded and asks for a payment; the resident pays from ``machi-wallet``; the merchant's webhook receiver
gets the signed event; an offline payment is relayed later; the other resident, with no phone, opens a card
wallet at the city counter and pays ``machi-pos card-pay`` with the card and PIN; the resident applies for
the childcare benefit; a clerk approves it in the console;
the benefit lands; the resident verifies the receipt against the chain; the merchant refunds part and
redeems the rest; the city exports the Zengin file and marks it transferred; the resident loses the
wallet and recovers it with the card; ``machi reconcile`` is clean.

This module holds the story's context (configuration, the parts' state, shared helpers); the steps
themselves are in ``scripts.demo_steps``, whose ``run_story`` returns a ``StoryResult`` with what an
outside checker needs (ids, addresses, the bank file, the transcript of every command, every secret used).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from chain.rpc import connect
from scripts.demo_clerk import ClerkDesk
from scripts.demo_residents import Person, Resident
from scripts.demo_tools import Api, CliRun, DemoError, Transcript, WebhookReceiver, verify_machi_signature, wait_for
from wallet.api import MachiApi

__all__ = ["CARD_PRICE", "CARD_TOPUP", "DEMO_STAFF", "StoryConfig", "StoryResult", "Story", "staff_login", "yen"]

#: The demo's console accounts (documented in the README; made on first run, reused after).
DEMO_STAFF = {
    "admin": ("demo-admin", "kaga-demo-admin-2026", ["--role", "admin"]),
    "clerk": ("demo-clerk", "kaga-demo-clerk-2026", ["--role", "clerk", "--department", "child-welfare"]),
    "road": ("demo-road", "kaga-demo-road-2026", ["--role", "clerk", "--department", "road-maintenance"]),
}
TOPUP_YEN = 10_000
PRICE, REFUND, GIFT = 3_240, 540, 500
#: Hanako's offline reserve and the offline payment she makes from it at the counter, relayed later.
OFFLINE = 1_000
#: Taro's card wallet (opened at the city counter with his card) and what he pays from it with card and PIN.
CARD_TOPUP, CARD_PRICE = 3_000, 800
_BALANCE_OF = "0x70a08231"
_IS_VERIFIED = "0x" + Web3.keccak(text="isVerified(address)")[:4].hex().removeprefix("0x")
_POINTS_OF = "0x" + Web3.keccak(text="pointsOf(address)")[:4].hex().removeprefix("0x")
_RECOVERY_DELAY = "0x" + Web3.keccak(text="recoveryDelay()")[:4].hex().removeprefix("0x")


def yen(amount: int) -> str:
    return f"¥{amount:,}"


@dataclass
class StoryConfig:
    """Where the story runs and who plays the parts that are not command lines."""

    api_url: str
    rpc_url: str
    work_dir: Path
    machi_env: dict[str, str]
    receiver: WebhookReceiver
    clerk: ClerkDesk
    say: Callable[[str], None] = print


@dataclass
class StoryResult:
    """What happened, for whoever checks the story from the outside."""

    hanako: Resident
    taro: Resident
    coin: str = ""
    ledger: str = ""
    topup: dict[str, Any] = field(default_factory=dict)
    merchant: dict[str, Any] = field(default_factory=dict)
    bank_account_number: str = ""
    payment_request: dict[str, Any] = field(default_factory=dict)
    webhook_secret: str = ""
    refused_my_number: CliRun | None = None
    application_id: str = ""
    approval_how: str = ""
    receipt: CliRun | None = None
    refund: dict[str, Any] = field(default_factory=dict)
    payout: dict[str, Any] = field(default_factory=dict)
    batch: dict[str, Any] = field(default_factory=dict)
    zengin_file: bytes = b""
    reconcile: CliRun | None = None
    civic_report: dict[str, Any] = field(default_factory=dict)
    civic_reward: int = 0
    card_wallet: str = ""
    transcript: Transcript = field(default_factory=Transcript)
    other_secrets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def secrets(self) -> dict[str, list[str]]:
        """Every secret and piece of personal data the story used, by kind."""
        merged: dict[str, list[str]] = {k: list(v) for k, v in self.other_secrets.items()}
        for resident in (self.hanako, self.taro):
            for kind, values in resident.secrets.items():
                merged.setdefault(kind, []).extend(values)
        return {kind: [v for v in values if v] for kind, values in merged.items()}


class Story:
    """Runs the story once; every run makes new residents, cards, a merchant and references."""

    def __init__(self, config: StoryConfig) -> None:
        self.config = config
        self.api = Api(config.api_url)
        self.run_id = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
        self.w3 = connect(config.rpc_url)
        transcript = Transcript()
        home = config.work_dir / self.run_id

        def resident(label: str, person: Person) -> Resident:
            return Resident(label, person, home / label.lower(), config.api_url, config.rpc_url, transcript)

        self.result = StoryResult(
            hanako=resident("Hanako", Person("加賀 花子", "1985-06-15", "female", "石川県加賀市大聖寺南町ニ41番地")),
            taro=resident("Taro", Person("山中 太郎", "1962-11-30", "male", "石川県加賀市山中温泉本町2丁目ナ1番地")),
            transcript=transcript,
        )
        self.tokens: dict[str, str] = {}

    def say(self, line: str) -> None:
        self.config.say(line)

    def note(self, kind: str, *values: str) -> None:
        self.result.other_secrets.setdefault(kind, []).extend(values)

    def balance(self, wallet: str) -> int:
        """The coin balance on chain (a plain ``balanceOf`` call, no service involved)."""
        data = _BALANCE_OF + wallet.lower().removeprefix("0x").rjust(64, "0")
        raw = self.w3.eth.call({"to": Web3.to_checksum_address(self.result.coin), "data": data})  # type: ignore[typeddict-item]
        return int.from_bytes(bytes(raw), "big")

    def points(self, wallet: str) -> int:
        """The wallet's unexpired points on chain (``pointsOf``'s first figure, no service involved)."""
        data = _POINTS_OF + wallet.lower().removeprefix("0x").rjust(64, "0")
        raw = self.w3.eth.call({"to": Web3.to_checksum_address(self.result.coin), "data": data})  # type: ignore[typeddict-item]
        return int.from_bytes(bytes(raw)[:32], "big")

    def wait_points(self, wallet: str, amount: int, what: str, timeout: float = 120.0) -> int:
        return wait_for(lambda: amount if self.points(wallet) == amount else None, what, timeout=timeout)

    # ------------------------------------------------------------------ helpers the steps share
    def resident_api(self, resident: Resident) -> MachiApi:
        """The resident's own API session (their wallet key, unlocked with their password)."""
        from wallet.keystore import load_account

        api = MachiApi(self.config.api_url)
        api.login(load_account(resident.current_keystore, resident.password))
        return api

    def machi(self, who: str, *args: str, ok: bool = True) -> CliRun:
        """An operator ``machi`` command on the service's var/ directory and database."""
        return self.result.transcript.run(who, "machi", *args, env=self.config.machi_env, ok=ok)

    def merchant_key(self) -> str:
        return str(self.result.merchant["api_key"]["secret"])

    def webhook(self, event_type: str, object_id: str) -> dict[str, Any]:
        """Wait for the merchant's receiver to get ``event_type``; check its signature as the README says."""
        delivery = self.config.receiver.wait_event(event_type, object_id)
        if not verify_machi_signature(self.result.webhook_secret, delivery.signature, delivery.body,
                                      received_at=delivery.received_at):
            raise DemoError(f"the {event_type} webhook carries a Machi-Signature that does not verify")
        return delivery.event

    def is_verified(self, wallet: str) -> bool:
        """``IdentityRegistry.isVerified`` on chain (the registry from the service's deployment manifest)."""
        from chain.deploy import load_manifest
        from procedures.config import get_settings

        var = Path(self.config.machi_env.get("MACHI_VAR_DIR") or get_settings().var_dir)
        registry = load_manifest(self.w3, var / "deployments").address("IdentityRegistry")
        data = _IS_VERIFIED + wallet.lower().removeprefix("0x").rjust(64, "0")
        raw = self.w3.eth.call({"to": Web3.to_checksum_address(registry), "data": data})  # type: ignore[typeddict-item]
        return int.from_bytes(bytes(raw), "big") == 1

    def wait_balance(self, wallet: str, amount: int, what: str, timeout: float = 120.0) -> int:
        return wait_for(lambda: amount if self.balance(wallet) == amount else None, what, timeout=timeout)

    def recovery_delay(self) -> int:
        """The coin's delay between a recovery request and its execution (``recoveryDelay()``)."""
        raw = self.w3.eth.call({"to": Web3.to_checksum_address(self.result.coin), "data": _RECOVERY_DELAY})  # type: ignore[typeddict-item]
        return int.from_bytes(bytes(raw), "big")


def staff_login(story: Story, role: str) -> str:
    """The demo staff account's token (logging it in)."""
    username, password, _ = DEMO_STAFF[role]
    token = story.api.staff_token(username, password)
    story.note("bearer_token", token)
    story.note("staff_password", password)
    return token
