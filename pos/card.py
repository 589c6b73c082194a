"""Paying with the My Number card at the counter, no phone.

    machi-pos card-pay [AMOUNT] [--card pcsc[:READER] | soft:PATH.p12] [-d …]

The cashier types the amount; the resident puts the card on the reader and types the 4-digit PIN (hidden;
``MACHI_CARD_PIN`` for scripts). For each attempt the counter asks the service for a fresh payment statement
(merchant, amount, request, nonce, time, chain, coin), checks it is the payment on the screen, and has the
card's authentication key sign it; the service pays from the resident's card wallet. The PIN goes to the
card only: a wrong one is counted by the card, which locks itself after its own number of tries — the
counter says how many are left.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import click

from pos.api import PosError
from pos.context import PosContext, pass_pos
from pos.counter import open_request, show_receipt, wait_paid
from protocol.cards import CARD_SPEC, UnknownCardKind, open_card
from protocol.counter import CardPaymentStatement
from protocol.errors import CardLocked, InvalidPinFormat, ProtocolError, WrongPin

__all__ = ["COMMANDS"]

#: A typed PIN may be tried this many times per payment (the card's own counter decides the lock).
MAX_PIN_ATTEMPTS = 3


def _statement(pos: PosContext, merchant: dict[str, object], request: dict[str, object]) -> CardPaymentStatement:
    """A fresh statement from the service, refused unless it is exactly the payment on the screen."""
    challenge = pos.api.json("POST", "/v1/card_payments/challenge", json={"payment_request": request["id"]})
    try:
        statement = CardPaymentStatement.from_json(challenge["statement"])
    except (ProtocolError, KeyError):
        raise PosError.of("statement_mismatch") from None
    if ((statement.merchant, statement.pay_to.lower(), statement.amount, statement.payment_request)
            != (merchant["id"], str(merchant["wallet"]).lower(), request["amount"], request["id"])
            or challenge.get("canonical") != statement.canonical_bytes().decode()):
        raise PosError.of("statement_mismatch")
    return statement


def _pin(pos: PosContext) -> tuple[str, bool]:
    """The PIN and whether it was typed (a scripted one is not asked again)."""
    from_env = os.environ.get("MACHI_CARD_PIN")
    if from_env:
        return from_env, False
    return str(click.prompt(pos.t("prompt_card_pin"), hide_input=True)), True


def _sign(pos: PosContext, spec: str, merchant: dict[str, object], request: dict[str, object]) -> dict[str, object]:
    """The card-signed body of ``POST /v1/card_payments`` (asking the PIN again after a wrong one)."""
    for _attempt in range(MAX_PIN_ATTEMPTS):
        pin, typed = _pin(pos)
        try:
            card = open_card(spec, pin)
            statement = _statement(pos, merchant, request)
            certificate = card.auth_certificate()
            signature = card.sign_auth(statement.canonical_bytes(), pin)
        except UnknownCardKind:
            raise click.BadParameter(CARD_SPEC, param_hint="--card") from None
        except (WrongPin, InvalidPinFormat) as exc:
            if not typed:
                raise
            pos.console.print(f"[yellow]{pos.t.error(exc)}[/]")
            continue
        return {"payment_request": request["id"], "statement": statement.to_json(),
                "auth_certificate": base64.b64encode(certificate).decode(),
                "auth_signature": base64.b64encode(signature).decode()}
    raise PosError.of("pin_attempts_over")


@click.command("card-pay")
@click.argument("amount", type=click.IntRange(1), required=False)
@click.option("--card", "spec", envvar="MACHI_POS_CARD", default="pcsc", show_default=True,
              help=f"the counter's card reader or a test card: {CARD_SPEC} (env MACHI_POS_CARD)")
@click.option("--description", "-d", default=None, help="what is sold (on the receipt)")
@click.option("--timeout", "timeout_s", type=click.FloatRange(5), default=120.0, show_default=True,
              help="seconds to wait for the chain once the card has signed")
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path), default=None, help="also write the receipt "
              "as a PDF")
@pass_pos
def card_pay(pos: PosContext, amount: int | None, spec: str, description: str | None, timeout_s: float,
             pdf: Path | None) -> None:
    """Charge an amount paid with the customer's My Number card and PIN (from their card wallet)."""
    request = open_request(pos, amount, description)
    merchant = pos.api.merchant()
    pos.say("card_prompt", amount=f"{request['amount']:,}", name=merchant["display_name"])
    try:
        body = _sign(pos, spec, merchant, request)
        pos.api.json("POST", "/v1/card_payments", json=body)
    except (PosError, ProtocolError, click.ClickException, click.Abort) as exc:
        _cancel_quietly(pos, request["id"])
        if isinstance(exc, CardLocked):
            pos.console.print(f"[red]{pos.t('card_locked_at_counter')}[/]")
        raise
    paid = wait_paid(pos, request, timeout_s)
    pos.say("paid", amount=f"{paid['amount']:,}")
    show_receipt(pos, paid, pdf, paid_with=pos.t("paid_with_card"))


def _cancel_quietly(pos: PosContext, request_id: str) -> None:
    """Cancel the request the card did not pay (a new attempt makes a new one); the first error is what counts."""
    try:
        pos.api.cancel_request(request_id)
    except PosError:
        pass


COMMANDS = [card_pay]
