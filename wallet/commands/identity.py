"""My Number card commands: ``link-card``, ``whoami``, ``recover``, ``renew``.

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

from protocol.statement import LinkStatement, Purpose, sign_wallet
from wallet.api import WalletError
from wallet.cards.base import CardSigner, sign_with_card
from wallet.context import WalletContext, pass_wallet

__all__ = ["COMMANDS", "open_card"]

#: Assurance levels as the API (names) and the chain (numbers) give them.
LEVELS: dict[str | int, str] = {
    "card_authenticated": "card authenticated",
    "resident_of_city": "resident of the city",
    1: "card authenticated",
    2: "resident of the city",
}
#: How long a command waits for the chain before giving up (seconds).
CHAIN_TIMEOUT = 180.0


def open_card(spec: str, pin: str) -> CardSigner:
    """A card signer from ``soft:PATH.p12`` (software test card) or ``pcsc[:READER]`` (a real card).

    Raises:
        click.BadParameter: an unknown card kind.
        CardError, WrongPin: the card could not be opened.
    """
    kind, _, rest = spec.partition(":")
    if kind == "soft" and rest:
        from wallet.cards.soft import SoftCard

        return SoftCard(os.path.expanduser(rest), pin)
    if kind == "pcsc":
        from wallet.cards.pcsc import PcscCard

        return PcscCard.connect(rest or None)
    raise click.BadParameter("use soft:PATH.p12 or pcsc[:READER]", param_hint="--card")


def _may_have_signing_key(card: CardSigner) -> bool:
    """A minor's software card has no signing file; a real card only tells after the password."""
    from wallet.cards.soft import SoftCard

    return not isinstance(card, SoftCard) or card.signing_path is not None


def _signing_password(card: CardSigner, auth_only: bool) -> str | None:
    if auth_only or not _may_have_signing_key(card):
        return None
    from_env = os.environ.get("MACHI_CARD_SIGNING_PASSWORD")
    if from_env is not None:
        return from_env or None
    value = click.prompt(
        "Signing password (6-16 letters/digits; Enter to skip = card-authenticated level only)",
        hide_input=True, default="", show_default=False,
    )
    return str(value) or None


def _pin() -> str:
    from_env = os.environ.get("MACHI_CARD_PIN")
    return from_env if from_env else str(click.prompt("Card PIN (4 digits)", hide_input=True))


def _signed_request(wallet: WalletContext, purpose: Purpose, card_spec: str, auth_only: bool) -> dict[str, Any]:
    """Unlock the wallet, ask for a challenge, sign it with the card and the wallet."""
    account = wallet.account()
    pin = _pin()
    card = open_card(card_spec, pin)
    signing_password = _signing_password(card, auth_only)
    challenge = wallet.api.identity_challenge(account.address, purpose.value)
    wallet.api.login(account)  # only the identity's own wallet may poll the operation afterwards
    statement = LinkStatement.from_json(challenge["statement"])
    if statement.wallet != account.address or statement.purpose is not purpose:
        raise WalletError("the service sent a statement for another wallet or purpose; refusing to sign it")
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
    """Spin until the operation is on chain; fail with the chain's reason if it was refused."""
    deadline = time.monotonic() + CHAIN_TIMEOUT
    with wallet.console.status(f"Waiting for the {what} on chain…"):
        while identity["operation"]["status"] == "pending":
            if time.monotonic() > deadline:
                raise WalletError(f"the {what} is still pending; check later with `machi-wallet whoami`")
            identity = wallet.api.identity(identity["id"], wait=True)
    if identity["operation"]["status"] == "failed":
        failed = next(i for i in identity["operation"]["intents"] if i["status"] == "failed")
        raise WalletError(f"the {what} was refused on chain: {failed['error_code'] or 'unknown reason'}")
    return identity


def _table(title: str) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")  # addresses and hashes are shown whole
    return table


def _show(wallet: WalletContext, identity: dict[str, Any], title: str) -> None:
    table = _table(title)
    table.add_row("wallet", identity["wallet"])
    table.add_row("level", LEVELS[identity["level"]])
    table.add_row("status", identity["status"])
    table.add_row("expires", identity["expires_at"][:10])
    for intent in identity["operation"]["intents"]:
        table.add_row(intent["kind"], f"{intent['status']} {intent['tx_hash'] or ''}".strip())
    if identity.get("note"):
        table.add_row("note", identity["note"])
    wallet.console.print(table)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


card_option = click.option("--card", "card_spec", required=True, metavar="soft:PATH.p12|pcsc[:READER]",
                           help="the My Number card: a software test card or a PC/SC reader")
auth_only_option = click.option("--auth-only", is_flag=True,
                                help="use only the user-authentication key (no signing password)")


@click.command("link-card")
@card_option
@auth_only_option
@pass_wallet
def link_card(wallet: WalletContext, card_spec: str, auth_only: bool) -> None:
    """Link this wallet to your My Number card (attested on chain, no personal data)."""
    body = _signed_request(wallet, Purpose.LINK, card_spec, auth_only)
    identity = _wait(wallet, wallet.api.identity_submit("link", body), "attestation")
    _show(wallet, identity, "Linked")


@click.command()
@pass_wallet
def whoami(wallet: WalletContext) -> None:
    """Your identity: what the city recorded and what the chain says."""
    account = wallet.account()
    wallet.api.login(account)
    me = wallet.api.my_identity()
    chain, identity = me["chain"], me["identity"]
    table = _table("Who am I")
    table.add_row("wallet", me["wallet"])
    table.add_row("verified on chain", "yes" if chain["verified"] else "no")
    table.add_row("level", LEVELS.get(chain["level"], "none"))
    table.add_row("balance", f"{chain['balance']:,}")
    if identity is None:
        table.add_row("identity", "not linked (run `machi-wallet link-card`)")
    else:
        table.add_row("identity", identity["status"])
        table.add_row("expires", identity["expires_at"][:10])
    wallet.console.print(table)


@click.command()
@card_option
@click.option("--lost", "lost", required=True, metavar="ADDRESS", help="the lost wallet's address")
@auth_only_option
@pass_wallet
def recover(wallet: WalletContext, card_spec: str, lost: str, auth_only: bool) -> None:
    """From a NEW wallet: take over a lost wallet's identity and move its coins here."""
    body = _signed_request(wallet, Purpose.RECOVER, card_spec, auth_only)
    identity = _wait(wallet, wallet.api.identity_submit("recover", {**body, "lost_wallet": lost}), "recovery")
    _show(wallet, identity, f"Recovered from {lost}")


@click.command()
@card_option
@auth_only_option
@pass_wallet
def renew(wallet: WalletContext, card_spec: str, auth_only: bool) -> None:
    """Re-verify your card: a fresh attestation (and level) for this wallet."""
    body = _signed_request(wallet, Purpose.RENEW, card_spec, auth_only)
    identity = _wait(wallet, wallet.api.identity_submit("renew", body), "renewal")
    _show(wallet, identity, "Renewed")


COMMANDS = [link_card, whoami, recover, renew]
