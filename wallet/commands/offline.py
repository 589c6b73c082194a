"""Offline payments: lock coins in the offline reserve beforehand, then pay with no network.

    machi-wallet reserve 5000                       lock 5,000 coins in my offline reserve (online)
    machi-wallet release-reserve                    ask for the unused reserve back (due after the reserve's delay;
                                                    run it again once due to have the coins returned)
    machi-wallet pay --offline <merchant code> --amount 1200
                                                    sign an offline payment against the reserve: a QR code in
                                                    the terminal and a file for the merchant's counter

The reserve is on chain (``machi-wallet balance`` shows it); what the wallet needs to sign offline — the
chain, the reserve's address, the longest validity counters accept — is kept beside the keystore
(``offline.json``) each time the wallet sees the reserve online, so ``pay --offline`` needs no network.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chain.contracts.authorization import Authorization, Eip712Domain, random_nonce
from chain.contracts.reserve import sign_receive_authorization, sign_release_request
from protocol.addresses import checksum
from protocol.errors import InvalidAddress
from protocol.offline import MAX_VALIDITY_S, sign_offline_payment
from protocol.payment_uri import parse_uri
from protocol.qr import qr_text
from wallet.api import WalletError
from wallet.context import WalletContext, pass_wallet
from wallet.help import LocalizedCommand

__all__ = ["COMMANDS", "offline_pay", "reserve_rows"]

RESERVE_WAIT_S = 120.0
AUTHORIZATION_TTL_S = 600
#: How long an offline payment stays valid unless told (the counter relays it when the network is back).
DEFAULT_VALID_HOURS = 48


def _offline_file(wallet: WalletContext) -> Path:
    return wallet.keystore.parent / "offline.json"


def remember(wallet: WalletContext, state: dict[str, Any]) -> None:
    """Keep what signing offline needs (written atomically: a crash never leaves half a file)."""
    path = _offline_file(wallet)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"chain_id": state["chain_id"], "reserve": state["reserve"], "max_validity": state["max_validity"],
            "wallet": state["wallet"], "reserved": state["reserved"], "seen_at": int(time.time())}
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(data, handle)
    os.replace(handle.name, path)


def reserve_rows(wallet: WalletContext) -> list[tuple[str, int]]:
    """``balance``'s rows about the offline reserve (and it remembers the reserve for offline use)."""
    state = wallet.api.request("GET", "/v1/wallet/offline", auth=True)
    remember(wallet, state)
    t = wallet.t
    rows = [(t("offline_reserved"), state["reserved"])]
    if state["adding"]:
        rows.append((t("offline_adding"), state["adding"]))
    return rows


@click.command(cls=LocalizedCommand)
@click.argument("amount", type=click.IntRange(1))
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def reserve(wallet: WalletContext, amount: int, yes: bool) -> None:
    """Lock coins in my offline reserve (to pay later with no network)."""
    t = wallet.t
    account = wallet.logged_in()
    state = wallet.api.request("GET", "/v1/wallet/offline", auth=True)
    if state["reserved"] + state["adding"] + amount > state["limit"]:
        raise WalletError.of("offline_over_limit", limit=f"{state['limit']:,}",
                             left=f"{max(0, state['limit'] - state['reserved'] - state['adding']):,}")
    if not yes:
        click.confirm(t("confirm_reserve", amount=f"{amount:,}"), abort=True)
    coin = wallet.api.request("GET", "/v1/coin", auth=True)
    domain = Eip712Domain(coin["name"], coin["version"], coin["chain_id"], coin["address"])
    nonce, valid_before = random_nonce(), int(time.time()) + AUTHORIZATION_TTL_S
    signature = sign_receive_authorization(account, domain, state["reserve"], amount, valid_after=0,
                                           valid_before=valid_before, nonce=nonce)
    auth = Authorization(from_=account.address, to=state["reserve"], value=amount, valid_after=0,
                         valid_before=valid_before, nonce=nonce, v=signature[64], r=signature[:32], s=signature[32:64])
    wallet.api.request("POST", "/v1/wallet/offline/reserve", json={"authorization": auth.to_json()}, auth=True)
    target = state["reserved"] + amount
    deadline = time.monotonic() + RESERVE_WAIT_S
    with wallet.console.status(t("reserve_waiting"), spinner="dots"):
        while True:
            state = wallet.api.request("GET", "/v1/wallet/offline", auth=True)
            if state["reserved"] >= target:
                break
            if not state["adding"] or time.monotonic() > deadline:
                raise WalletError.of("reserve_failed")
            time.sleep(0.3)
    remember(wallet, state)
    wallet.say("reserved_now", reserved=f"{state['reserved']:,}")


@click.command("release-reserve", cls=LocalizedCommand)
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def release_reserve(wallet: WalletContext, yes: bool) -> None:
    """Ask for my unused offline reserve back; once the release is due, run it again to get the coins."""
    account = wallet.logged_in()
    state = wallet.api.request("GET", "/v1/wallet/offline", auth=True)
    if state["release_at"] is None:
        if not yes:
            click.confirm(wallet.t("confirm_release", amount=f"{state['reserved']:,}"), abort=True)
        nonce = random_nonce()
        signature = sign_release_request(account, state["chain_id"], state["reserve"], nonce)
        body = wallet.api.request("POST", "/v1/wallet/offline/release", auth=True,
                                  json={"nonce": "0x" + nonce.hex(), "signature": "0x" + signature.hex()})
        due = datetime.fromtimestamp(body["due_at"], tz=UTC)
        wallet.say("release_requested", when=wallet.clock.show(due))
        return
    body = wallet.api.request("POST", "/v1/wallet/offline/release/complete", auth=True)
    wallet.say("release_done", amount=f"{body['amount']:,}")


def _merchant_wallet(target: str) -> str:
    """The merchant's wallet from its counter's code (``ethereum:…``) or its address."""
    if target.startswith("ethereum:"):
        try:
            return checksum(parse_uri(target).to)
        except ValueError as exc:
            raise WalletError.of("not_a_payment_code", problem=exc) from None
    try:
        return checksum(target)
    except InvalidAddress:
        raise WalletError.of("offline_give_merchant") from None


def offline_pay(wallet: WalletContext, target: str, amount: int | None, valid_hours: int, out: Path | None,
                no_qr: bool, yes: bool) -> None:
    """``pay --offline``: no network — sign against the remembered reserve; a QR code and a file."""
    t = wallet.t
    try:
        known = json.loads(_offline_file(wallet).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise WalletError.of("offline_not_ready") from None
    if amount is None:
        raise WalletError.of("offline_amount_needed")
    merchant = _merchant_wallet(target)
    validity = min(valid_hours * 3600, int(known.get("max_validity", MAX_VALIDITY_S)))
    if not yes:
        click.confirm(t("confirm_pay_offline", amount=f"{amount:,}", to=merchant), abort=True)
    account = wallet.account()
    if account.address != known["wallet"]:
        raise WalletError.of("offline_not_ready")
    payment = sign_offline_payment(account.key, chain_id=int(known["chain_id"]), reserve=known["reserve"],
                                   merchant=merchant, amount=amount, valid_before=int(time.time()) + validity)
    text = payment.to_text()
    path = out or Path(f"offline-{payment.nonce[2:14]}.txt")
    path.write_text(text + "\n", encoding="utf-8")
    if not no_qr:
        wallet.console.print(qr_text(text), markup=False, soft_wrap=True)
    wallet.console.print(text, markup=False, soft_wrap=True)
    wallet.say("offline_signed", amount=f"{amount:,}", path=str(path), hours=f"{validity // 3600}")


COMMANDS = [reserve, release_reserve]
