"""My Number card commands: ``link-card``, ``whoami``, ``recover`` (and ``recover --cancel``), ``renew``.

The card signs the statement the service hands out (purpose, wallet, chain, registry contract,
nonce, time); the wallet signs the same statement as EIP-712 typed data.  Only certificates and
signatures leave the machine — never the PIN, never a My Number.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import click
from rich.table import Table

from protocol import cards
from protocol.cards.base import CardSigner, sign_with_card
from protocol.eip712 import sign_typed
from protocol.recovery import check_cancel_request
from protocol.statement import LinkStatement, Purpose, sign_wallet
from wallet.api import WalletError
from wallet.context import WalletContext, pass_wallet
from wallet.help import LocalizedCommand

__all__ = ["COMMANDS", "open_card", "show_status"]

#: Assurance levels as the API names them → their number (the chain's, and ``protocol.terms``' ``lvl_N``).
LEVELS: dict[str, int] = {"card_authenticated": 1, "resident_of_city": 2}
#: How long a command waits for the chain before giving up (seconds).
CHAIN_TIMEOUT = 180.0


def level_name(wallet: WalletContext, level: str | int) -> str:
    """The level's one name (``protocol.terms``): 市民確認済 / Resident of the city, …"""
    return wallet.t(f"lvl_{LEVELS.get(str(level), level)}")


def open_card(spec: str, pin: str, wallet: WalletContext) -> CardSigner:
    """A card signer from ``soft:PATH.p12`` (software test card) or ``pcsc[:READER]`` (a real card).

    Raises:
        click.BadParameter: an unknown card kind.
        CardError, WrongPin: the card could not be opened.
    """
    try:
        return cards.open_card(spec, pin)
    except cards.UnknownCardKind:
        raise click.BadParameter(wallet.t("card_spec"), param_hint="--card") from None


def _may_have_signing_key(card: CardSigner) -> bool:
    """A minor's software card has no signing file; a real card only tells after the password."""
    from protocol.cards.soft import SoftCard

    return not isinstance(card, SoftCard) or card.signing_path is not None


def _signing_password(wallet: WalletContext, card: CardSigner, auth_only: bool) -> str | None:
    if auth_only or not _may_have_signing_key(card):
        return None
    from_env = os.environ.get("MACHI_CARD_SIGNING_PASSWORD")
    if from_env is not None:
        return from_env or None
    value = click.prompt(wallet.t("prompt_signing_password"), hide_input=True, default="", show_default=False)
    return str(value) or None


def _pin(wallet: WalletContext) -> str:
    from_env = os.environ.get("MACHI_CARD_PIN")
    return from_env if from_env else str(click.prompt(wallet.t("prompt_pin"), hide_input=True))


def _signed_request(wallet: WalletContext, purpose: Purpose, card_spec: str, auth_only: bool) -> dict[str, Any]:
    """Unlock the wallet, ask for a challenge, sign it with the card and the wallet."""
    account = wallet.account()
    pin = _pin(wallet)
    card = open_card(card_spec, pin, wallet)
    signing_password = _signing_password(wallet, card, auth_only)
    challenge = wallet.api.identity_challenge(account.address, purpose.value)
    wallet.api.login(account)  # only the identity's own wallet may poll the operation afterwards
    statement = LinkStatement.from_json(challenge["statement"])
    if statement.wallet != account.address or statement.purpose is not purpose:
        raise WalletError.of("statement_mismatch")
    signatures = sign_with_card(card, statement.canonical_bytes(), pin=pin, signing_password=signing_password)
    body: dict[str, Any] = {
        "statement": statement.to_json(),
        "auth_certificate": _b64(signatures.auth_certificate),
        "auth_signature": _b64(signatures.auth_signature),
        "wallet_signature": "0x" + sign_wallet(statement, bytes(account.key)).hex(),
    }
    if signatures.signing_certificate is not None and signatures.signing_signature is not None:
        body["signing_certificate"] = _b64(signatures.signing_certificate)
        body["signing_signature"] = _b64(signatures.signing_signature)
    return body


def _wait(wallet: WalletContext, identity: dict[str, Any], what: str) -> dict[str, Any]:
    """Spin until the operation is on chain; fail with the chain's reason if it was refused.

    ``what``: ``attestation``, ``recovery`` or ``renewal``."""
    deadline = time.monotonic() + CHAIN_TIMEOUT
    with wallet.console.status(wallet.t(f"waiting_{what}")):
        while identity["operation"]["status"] == "pending":
            if time.monotonic() > deadline:
                raise WalletError.of("still_pending")
            identity = wallet.api.identity(identity["id"], wait=True)
    if identity["operation"]["status"] == "failed":
        failed = next(i for i in identity["operation"]["intents"] if i["status"] == "failed")
        raise WalletError.of("refused_on_chain", reason=failed["error_code"] or wallet.t("unknown_reason"))
    return identity


def _table(wallet: WalletContext, title: str) -> Table:
    table = wallet.table(title, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")  # addresses and hashes are shown whole
    return table


def _show(wallet: WalletContext, identity: dict[str, Any], title: str) -> None:
    t = wallet.t
    table = _table(wallet, title)
    table.add_row(t("wallet"), identity["wallet"])
    table.add_row(t("level"), level_name(wallet, identity["level"]))
    table.add_row(t("status"), t.term("ids", identity["status"]))
    table.add_row(t("expires"), wallet.clock.show_date(identity["expires_at"]))
    for intent in identity["operation"]["intents"]:
        table.add_row(t.term("intent", intent["kind"]), f"{t.term('ist', intent['status'])} {intent['tx_hash'] or ''}"
                      .strip())
    if identity.get("note"):
        table.add_row(t("note"), identity["note"])
    wallet.console.print(table)
    wallet.say("done_on_chain")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


card_option = click.option("--card", "card_spec", required=True, metavar="soft:PATH.p12|pcsc[:READER]",
                           help="the My Number card: a software test card or a PC/SC reader")
auth_only_option = click.option("--auth-only", is_flag=True,
                                help="use only the user-authentication key (no signing password)")


@click.command("link-card", cls=LocalizedCommand)
@card_option
@auth_only_option
@pass_wallet
def link_card(wallet: WalletContext, card_spec: str, auth_only: bool) -> None:
    """Link this wallet to your My Number card (attested on chain, no personal data)."""
    body = _signed_request(wallet, Purpose.LINK, card_spec, auth_only)
    identity = _wait(wallet, wallet.api.identity_submit("link", body), "attestation")
    _show(wallet, identity, wallet.t("title_linked"))


def _pending_rows(wallet: WalletContext, table: Table, pending: dict[str, Any] | None) -> None:
    """A pending recovery involving this wallet: who replaces whom, and from when it may run."""
    if pending is None:
        return
    t = wallet.t
    table.add_row(t("recovery_pending"), t("recovery_pending_value", lost=pending["lost_wallet"],
                                           new=pending["new_wallet"]))
    table.add_row(t("recovery_eta"), _when(wallet, pending.get("eta")))
    if pending.get("cancel_requested"):
        table.add_row(t("recovery_cancel"), t("recovery_cancel_requested"))


def _when(wallet: WalletContext, value: str | None) -> str:
    """A time from the service in the city's zone, with the zone (``2026-04-01 09:30 JST``)."""
    return "—" if not value else wallet.clock.show(value)


def show_status(wallet: WalletContext) -> None:
    """What ``whoami`` and ``status`` without an application show: identity, chain, a pending recovery."""
    account = wallet.account()
    wallet.api.login(account)
    me = wallet.api.my_identity()
    chain, identity = me["chain"], me["identity"]
    t = wallet.t
    table = _table(wallet, t("title_whoami"))
    table.add_row(t("wallet"), me["wallet"])
    table.add_row(t("verified_on_chain"), t("yes") if chain["verified"] else t("no"))
    table.add_row(t("level"), level_name(wallet, chain["level"]))
    table.add_row(t("balance"), t("coins", amount=f"{chain['balance']:,}"))
    if identity is None:
        table.add_row(t("identity"), t("not_linked"))
    else:
        table.add_row(t("identity"), t.term("ids", identity["status"]))
        if identity.get("revocation_reason"):
            table.add_row(t("revocation_reason"), t.term("rr", identity["revocation_reason"]))
        table.add_row(t("expires"), wallet.clock.show_date(identity["expires_at"]))
    _pending_rows(wallet, table, wallet.api.pending_recovery())
    wallet.console.print(table)


@click.command(cls=LocalizedCommand)
@pass_wallet
def whoami(wallet: WalletContext) -> None:
    """Your identity: what the city recorded and what the chain says (and a pending recovery)."""
    show_status(wallet)


@click.command(cls=LocalizedCommand)
@click.option("--card", "card_spec", metavar="soft:PATH.p12|pcsc[:READER]",
              help="the My Number card: a software test card or a PC/SC reader")
@click.option("--lost", "lost", metavar="ADDRESS", help="the lost wallet's address")
@auth_only_option
@click.option("--cancel", is_flag=True, help="from the OLD wallet: cancel a recovery of it that is still pending")
@pass_wallet
def recover(wallet: WalletContext, card_spec: str | None, lost: str | None, auth_only: bool, cancel: bool) -> None:
    """From a NEW wallet: take over a lost wallet's identity and coins (after the delay the city announces)."""
    if cancel:
        _cancel_recovery(wallet)
        return
    if not card_spec or not lost:
        raise click.UsageError(wallet.t("recover_needs_card_and_lost"))
    body = _signed_request(wallet, Purpose.RECOVER, card_spec, auth_only)
    identity = _wait(wallet, wallet.api.identity_submit("recover", {**body, "lost_wallet": lost}), "recovery")
    t = wallet.t
    table = _table(wallet, t("title_recovery_requested", lost=lost))
    table.add_row(t("wallet"), identity["wallet"])
    table.add_row(t("status"), t.term("ids", identity["status"]))
    _pending_rows(wallet, table, wallet.api.pending_recovery())
    wallet.console.print(table)
    wallet.say("recovery_requested_note", eta=_when(wallet, identity.get("recovery_eta")))


def _cancel_recovery(wallet: WalletContext) -> None:
    """Sign ``CancelRecovery`` with this (old) wallet for the recovery the service shows, and send it."""
    account = wallet.account()
    wallet.api.login(account)
    pending = wallet.api.pending_recovery()
    if pending is None or pending["lost_wallet"] != account.address or not pending.get("cancel_typed_data"):
        raise WalletError.of("no_recovery_to_cancel")
    typed = pending["cancel_typed_data"]
    try:
        check_cancel_request(typed, account.address)
    except ValueError:
        raise WalletError.of("statement_mismatch") from None
    wallet.api.cancel_recovery(sign_typed(account, typed))
    wallet.say("recovery_cancel_sent", new=pending["new_wallet"])


@click.command(cls=LocalizedCommand)
@card_option
@auth_only_option
@pass_wallet
def renew(wallet: WalletContext, card_spec: str, auth_only: bool) -> None:
    """Re-verify your card: a fresh attestation (and level) for this wallet."""
    body = _signed_request(wallet, Purpose.RENEW, card_spec, auth_only)
    identity = _wait(wallet, wallet.api.identity_submit("renew", body), "renewal")
    _show(wallet, identity, wallet.t("title_renewed"))


COMMANDS = [link_card, whoami, recover, renew]
