"""The counter's commands: charge an amount, print a receipt, refund.

    machi-pos charge [AMOUNT] [--description …] [--pdf FILE]   a payment request, its QR, wait, the receipt
    machi-pos receipt pr_…  [--pdf FILE]                        a paid request's receipt again
    machi-pos refund pr_… [--amount N] [--reason …]             give coins back (all that is left by default)

Every call is the public merchant API; creating requests and refunds sends an ``Idempotency-Key`` so a
retried call never charges or refunds twice.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from pos.api import PosError
from pos.context import PosContext, pass_pos
from pos.receipts import receipt_lines, receipt_pdf
from protocol.qr import qr_text

__all__ = ["COMMANDS", "show_receipt", "wait_paid"]

POLL_S = 0.3
REFUND_TIMEOUT_S = 120.0
#: After the wait is over, how long a payment already being relayed is still waited for.
IN_FLIGHT_GRACE_S = 120.0


def _ended(pos: PosContext, request: dict[str, Any]) -> PosError:
    return PosError.of("request_ended", status=pos.t.term("prs", request["status"]))


def wait_paid(pos: PosContext, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Follow ``request`` until it is paid, with a spinner counting the seconds.

    After ``timeout_s`` (or Ctrl-C) the request is canceled — unless a payment is already on its way, which
    is then waited for.

    Raises:
        PosError: the request expired or was canceled (by the cashier, the timeout or elsewhere).
    """
    t, started = pos.t, time.monotonic()
    deadline, state = started + timeout_s, request
    with pos.console.status(t("waiting", seconds=0), spinner="dots") as spinner:
        while state["status"] == "open":
            try:
                time.sleep(POLL_S)
                state = pos.api.payment_request(request["id"])
            except KeyboardInterrupt:
                state = _cancel(pos, state, "canceled_by_cashier")
                continue
            seconds = int(time.monotonic() - started)
            spinner.update(t("in_progress" if state["payment_in_progress"] else "waiting", seconds=seconds))
            if state["status"] == "open" and time.monotonic() > deadline:
                if not state["payment_in_progress"]:
                    state = _cancel(pos, state, "not_paid_in_time", seconds=f"{timeout_s:.0f}")
                elif time.monotonic() > deadline + IN_FLIGHT_GRACE_S:
                    raise PosError.of("request_ended", status=t.term("prs", state["status"]))
    if state["status"] != "paid":
        if state.get("last_payment_error"):
            pos.say("last_error", error=state["last_payment_error"])
        raise _ended(pos, state)
    return state


def _cancel(pos: PosContext, state: dict[str, Any], key: str, **values: Any) -> dict[str, Any]:
    """Cancel the open request; if a payment got there first, carry on waiting for it."""
    try:
        state = pos.api.cancel_request(state["id"])
    except PosError as exc:
        if exc.code in ("payment_in_progress", "request_not_open"):
            return pos.api.payment_request(state["id"])
        raise
    raise PosError.of(key, id=state["id"], **values)


def show_receipt(pos: PosContext, request: dict[str, Any], pdf: Path | None, paid_with: str | None = None) -> None:
    """Print the receipt of a paid request (and write it as a PDF if asked)."""
    lines = receipt_lines(pos.t, pos.api.merchant(), request, paid_with)
    for line in lines:
        pos.console.print(escape(line), soft_wrap=True)
    if pdf is not None:
        pdf.write_bytes(receipt_pdf(lines))
        pos.say("pdf_written", path=pdf)
    pos.flush()


def open_request(pos: PosContext, amount: int | None, description: str | None) -> dict[str, Any]:
    """Ask the cashier for the amount if needed; create the payment request."""
    merchant = pos.api.merchant()
    pos.say("logged_in", name=merchant["display_name"], id=merchant["id"])
    if amount is None:
        amount = int(click.prompt(pos.t("prompt_amount"), type=click.IntRange(1)))
    request = pos.api.create_request(amount, description, idempotency_key=f"pos-{uuid.uuid4()}")
    pos.say("request_created", amount=f"{amount:,}", id=request["id"])
    return request


# --------------------------------------------------------------------------- commands
@click.command()
@click.argument("amount", type=click.IntRange(1), required=False)
@click.option("--description", "-d", default=None, help="what is sold (shown to the customer and on the receipt)")
@click.option("--timeout", "timeout_s", type=click.FloatRange(5), default=300.0, show_default=True,
              help="seconds to wait for the payment before canceling the request")
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path), default=None, help="also write the receipt "
              "as a PDF")
@click.option("--no-qr", is_flag=True, help="print only the payment URI, no QR code")
@pass_pos
def charge(pos: PosContext, amount: int | None, description: str | None, timeout_s: float, pdf: Path | None,
           no_qr: bool) -> None:
    """Charge an amount: a payment request and its QR code; wait until it is paid; the receipt."""
    request = open_request(pos, amount, description)
    if not no_qr:
        pos.say("scan_hint")
        pos.console.print(qr_text(request["uri"]), markup=False, soft_wrap=True)
    pos.console.print(f"URI: {request['uri']}", markup=False, soft_wrap=True)  # whole, to copy or pipe
    pos.flush()
    paid = wait_paid(pos, request, timeout_s)
    pos.say("paid", amount=f"{paid['amount']:,}")
    show_receipt(pos, paid, pdf)


@click.command()
@click.argument("request_id")
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path), default=None, help="also write it as a PDF")
@pass_pos
def receipt(pos: PosContext, request_id: str, pdf: Path | None) -> None:
    """The receipt of a paid payment request, again."""
    request = pos.api.payment_request(request_id)
    if request["paid_at"] is None:
        raise PosError.of("receipt_not_paid", id=request_id, status=pos.t.term("prs", request["status"]))
    show_receipt(pos, request, pdf)


@click.command()
@click.argument("request_id")
@click.option("--amount", type=click.IntRange(1), default=None, help="coins to give back (default: all that is left)")
@click.option("--reason", default=None, help="why (kept with the refund, never on chain)")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_pos
def refund(pos: PosContext, request_id: str, amount: int | None, reason: str | None, yes: bool) -> None:
    """Refund a paid payment request (all that is not refunded yet, or --amount)."""
    request = pos.api.payment_request(request_id)
    left = request["amount"] - request["amount_refunded"]
    if request["paid_at"] is not None and left <= 0:
        raise PosError.of("nothing_to_refund", id=request_id)
    shown = amount if amount is not None else left
    if not yes:
        click.confirm(pos.t("confirm_refund", id=request_id, amount=f"{shown:,}"), abort=True)
    created = pos.api.create_refund(request_id, amount, reason, idempotency_key=f"pos-{uuid.uuid4()}")
    deadline, state, started = time.monotonic() + REFUND_TIMEOUT_S, created, time.monotonic()
    with pos.console.status(pos.t("refund_waiting", seconds=0), spinner="dots") as spinner:
        while state["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(POLL_S)
            state = pos.api.refund(created["id"])
            spinner.update(pos.t("refund_waiting", seconds=int(time.monotonic() - started)))
    if state["status"] == "failed":
        raise PosError.of("refund_failed", code=state["failure_code"] or "unknown")
    if state["status"] != "succeeded":
        raise PosError.of("refund_not_final", id=state["id"])
    pos.say("refunded", amount=f"{state['amount']:,}", id=state["id"])


COMMANDS = [charge, receipt, refund]
