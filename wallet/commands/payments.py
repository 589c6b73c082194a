"""Money commands: balance, history, paying merchants, sending coins.

    machi-wallet balance                       coins on chain, in flight, available, cap
    machi-wallet history [--limit N] [--csv]   my transfers, newest first (a table, or CSV on stdout)
    machi-wallet pay <payment URI | pr_…>      pay a merchant's payment request (QR code or its id)
    machi-wallet scan <static merchant URI>    pay a merchant's static code; you type the amount
    machi-wallet send <address> <amount>       send coins to another resident

Payments are gasless: the wallet signs an ERC-3009 authorization (EIP-712) for exactly what it
showed you, the service relays it, and the command waits until the chain confirms it. ``--yes``
skips the confirmation prompt (scripts).
"""

from __future__ import annotations

import csv
import sys
import time
from typing import Any

import click
from rich.table import Table

from protocol.addresses import checksum
from protocol.errors import InvalidAddress
from protocol.payment_uri import parse_uri
from wallet.api import WalletError
from wallet.context import WalletContext, pass_wallet

__all__ = ["COMMANDS"]

AUTHORIZATION_TTL_S = 600
CONFIRM_TIMEOUT_S = 120.0


def _wait_confirmed(wallet: WalletContext, transfer: dict[str, Any]) -> dict[str, Any]:
    """Follow a transfer until it is final, with a spinner showing its status."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT_S
    state = transfer
    with wallet.console.status(f"payment {state['status']}…", spinner="dots") as spinner:
        while state["status"] not in ("confirmed", "failed"):
            if time.monotonic() > deadline:
                raise WalletError(f"not confirmed after {CONFIRM_TIMEOUT_S:.0f} s; check later with "
                                  f"`machi-wallet history` (transfer {state['id']})")
            time.sleep(0.2)
            state = wallet.api.request("GET", f"/v1/transfers/{transfer['id']}", auth=True)
            spinner.update(f"payment {state['status']}…")
    if state["status"] == "failed":
        raise WalletError(f"the payment failed: {state['failure_message']} ({state['failure_code']})")
    return state


def _done(wallet: WalletContext, state: dict[str, Any], what: str) -> None:
    wallet.console.print(f"[green]✓[/] {what} — confirmed in transaction {state['tx_hash']}")


def _amount(value: int) -> str:
    return f"{value:,}"


# --------------------------------------------------------------------------- commands
@click.command()
@pass_wallet
def balance(wallet: WalletContext) -> None:
    """Show the wallet's balance (on chain, in flight, available) and cap."""
    wallet.logged_in()
    body = wallet.api.request("GET", "/v1/wallet/balance", auth=True)
    table = Table(show_header=False, title=body["wallet"])
    table.add_column("what")
    table.add_column("coins", justify="right")
    table.add_row("balance", _amount(body["balance"]))
    if body["pending_out"] or body["pending_in"]:
        table.add_row("being sent", _amount(-body["pending_out"]))
        table.add_row("being received", _amount(body["pending_in"]))
    table.add_row("available", _amount(body["available"]))
    if body["cap"] is not None:
        table.add_row("cap", _amount(body["cap"]))
    wallet.console.print(table)
    if not body["verified"]:
        wallet.console.print("[yellow]this wallet is not verified: link your My Number card to pay and be paid[/]")


@click.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="most transfers shown")
@click.option("--csv", "as_csv", is_flag=True, help="write CSV to stdout instead of a table")
@pass_wallet
def history(wallet: WalletContext, limit: int, as_csv: bool) -> None:
    """My transfers, newest first."""
    account = wallet.logged_in()
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < limit:
        params: dict[str, Any] = {"limit": min(100, limit - len(rows))}
        if cursor:
            params["starting_after"] = cursor
        page = wallet.api.request("GET", "/v1/wallet/history", params=params, auth=True)
        rows += page["data"]
        cursor = page.get("next_cursor")
        if not page["has_more"] or not cursor:
            break
    me = account.address
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["id", "created_at", "kind", "direction", "counterparty", "amount", "status", "memo",
                         "tx_hash"])
        for t in rows:
            out = t["from"] == me
            writer.writerow([t["id"], t["created_at"], t["kind"], "out" if out else "in", t["to"] if out else t["from"],
                             -t["amount"] if out else t["amount"], t["status"], t["memo"] or "", t["tx_hash"] or ""])
        return
    table = Table(title=f"history of {me}")
    for column in ("date", "kind", "counterparty", "amount", "status", "memo"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for t in rows:
        out = t["from"] == me
        amount = f"[red]-{_amount(t['amount'])}[/]" if out else f"[green]+{_amount(t['amount'])}[/]"
        table.add_row(t["created_at"][:19].replace("T", " "), t["kind"], t["to"] if out else t["from"], amount,
                      t["status"], t["memo"] or "")
    wallet.console.print(table if rows else "no transfers yet")


@click.command()
@click.argument("target")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def pay(wallet: WalletContext, target: str, yes: bool) -> None:
    """Pay a payment request: its URI (from the QR code) or its id (pr_…)."""
    uri = None
    if target.startswith("ethereum:"):
        try:
            uri = parse_uri(target)
        except ValueError as exc:
            raise WalletError(f"not a payment code: {exc}") from None
        if uri.request_id is None:
            raise WalletError("this is a merchant's static code: use `machi-wallet scan` and type the amount")
        request_id = uri.request_id
    elif target.startswith("pr_"):
        request_id = target
    else:
        raise WalletError("give a payment URI (ethereum:…) or a payment request id (pr_…)")
    account = wallet.logged_in()
    checkout = wallet.api.request("GET", f"/v1/pay/requests/{request_id}", auth=True)
    if uri is not None:
        coin = wallet.api.request("GET", "/v1/coin", auth=True)
        if (uri.to.lower(), uri.amount, uri.coin.lower()) != (checkout["pay_to"].lower(), checkout["amount"],
                                                              coin["address"].lower()):
            raise WalletError("the code does not match the request held by the service; do not pay it")
    if checkout["status"] != "open":
        raise WalletError(f"this payment request is {checkout['status']}")
    if not checkout["merchant_accepts_payments"]:
        raise WalletError(f"{checkout['merchant']['display_name']} cannot take payments right now")
    console = wallet.console
    console.print(f"pay [bold]{_amount(checkout['amount'])}[/] coins to [bold]{checkout['merchant']['display_name']}"
                  f"[/]" + (f" — {checkout['description']}" if checkout["description"] else ""))
    if not yes:
        click.confirm("Pay?", abort=True)
    authorization = wallet.transfer_authorization(account, checkout["pay_to"], checkout["amount"], AUTHORIZATION_TTL_S)
    accepted = wallet.api.request("POST", f"/v1/pay/requests/{request_id}", json={"authorization": authorization},
                                  auth=True)
    state = _wait_confirmed(wallet, accepted["transfer"])
    _done(wallet, state, f"paid {_amount(checkout['amount'])} coins to {checkout['merchant']['display_name']}")


@click.command()
@click.argument("uri")
@click.option("--amount", type=click.IntRange(1), default=None, help="coins to pay (asked when not given)")
@click.option("--memo", default=None, help="a note for the merchant")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def scan(wallet: WalletContext, uri: str, amount: int | None, memo: str | None, yes: bool) -> None:
    """Pay a merchant's static code (``ethereum:…&merchant=mer_…``): you type the amount."""
    try:
        code = parse_uri(uri)
    except ValueError as exc:
        raise WalletError(f"not a payment code: {exc}") from None
    if code.merchant_id is None:
        raise WalletError("not a merchant's static code" + (" (use `machi-wallet pay` for a payment request)"
                                                             if code.request_id else ""))
    account = wallet.logged_in()
    merchant = wallet.api.request("GET", f"/v1/pay/merchants/{code.merchant_id}", auth=True)
    if merchant["pay_to"].lower() != code.to.lower():
        raise WalletError("the code does not match the merchant held by the service; do not pay it")
    if not merchant["merchant_accepts_payments"]:
        raise WalletError(f"{merchant['merchant']['display_name']} cannot take payments right now")
    name = merchant["merchant"]["display_name"]
    wallet.console.print(f"merchant: [bold]{name}[/]")
    if amount is None:
        amount = int(click.prompt("Amount (coins)", type=click.IntRange(1)))
    if not yes:
        click.confirm(f"Pay {_amount(amount)} coins to {name}?", abort=True)
    authorization = wallet.transfer_authorization(account, merchant["pay_to"], amount, AUTHORIZATION_TTL_S)
    accepted = wallet.api.request("POST", f"/v1/pay/merchants/{code.merchant_id}",
                                  json={"authorization": authorization, "memo": memo}, auth=True)
    state = _wait_confirmed(wallet, accepted["transfer"])
    _done(wallet, state, f"paid {_amount(amount)} coins to {name}")


@click.command()
@click.argument("address")
@click.argument("amount", type=click.IntRange(1))
@click.option("--memo", default=None, help="a note the recipient sees")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def send(wallet: WalletContext, address: str, amount: int, memo: str | None, yes: bool) -> None:
    """Send coins to another wallet (person to person)."""
    try:
        to = checksum(address)
    except InvalidAddress as exc:
        typo = " (its EIP-55 checksum does not match: mistyped?)" if exc.bad_checksum else ""
        raise WalletError(f"{address} is not a wallet address{typo}") from None
    account = wallet.logged_in()
    if not yes:
        click.confirm(f"Send {_amount(amount)} coins to {to}?", abort=True)
    authorization = wallet.transfer_authorization(account, to, amount, AUTHORIZATION_TTL_S)
    accepted = wallet.api.request("POST", "/v1/transfers", json={"authorization": authorization, "memo": memo},
                                  auth=True)
    state = _wait_confirmed(wallet, accepted)
    _done(wallet, state, f"sent {_amount(amount)} coins to {to}")


COMMANDS = [balance, history, pay, scan, send]
