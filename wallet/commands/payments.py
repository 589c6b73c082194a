"""Money commands: balance, history, paying merchants, sending coins.

    machi-wallet balance                       coins on chain, in flight, available, cap
    machi-wallet history [--limit N] [--csv]   every movement of my balance, newest first, with the running
                                               balance (a table, or CSV on stdout)
    machi-wallet pay <payment URI | pr_…>      pay a merchant's payment request (QR code or its id)
    machi-wallet pay --offline <merchant code> --amount N
                                               no network: sign against my offline reserve (wallet.commands.offline)
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
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from rich.markup import escape

from protocol.addresses import checksum
from protocol.errors import InvalidAddress
from protocol.payment_uri import parse_uri
from wallet.api import WalletError
from wallet.commands.offline import offline_pay, reserve_rows
from wallet.context import WalletContext, pass_wallet
from wallet.help import LocalizedCommand

__all__ = ["COMMANDS"]

AUTHORIZATION_TTL_S = 600
CONFIRM_TIMEOUT_S = 120.0


def _wait_confirmed(wallet: WalletContext, transfer: dict[str, Any]) -> dict[str, Any]:
    """Follow a transfer until it is final, with a spinner showing its status."""
    t = wallet.t
    deadline = time.monotonic() + CONFIRM_TIMEOUT_S
    state = transfer
    with wallet.console.status(t("payment_waiting", status=t.term("ts", state["status"])), spinner="dots") as spinner:
        while state["status"] not in ("confirmed", "failed"):
            if time.monotonic() > deadline:
                raise WalletError.of("not_confirmed", seconds=f"{CONFIRM_TIMEOUT_S:.0f}", id=state["id"])
            time.sleep(0.2)
            state = wallet.api.request("GET", f"/v1/transfers/{transfer['id']}", auth=True)
            spinner.update(t("payment_waiting", status=t.term("ts", state["status"])))
    if state["status"] == "failed":
        raise WalletError.of("payment_failed", message=state["failure_message"], code=state["failure_code"])
    return state


def _pay(wallet: WalletContext, account: LocalAccount, to: str, amount: int,
         submit: Callable[[dict[str, Any]], dict[str, Any]],
         transfer_of: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Sign, submit and follow a payment until it is final. When it failed only because a payment of this wallet
    signed before it did not go through (``nonce_ahead``: the chain runs a wallet's payments in order), nothing
    moved: it is signed once more, with the number after the chain's, and sent again."""
    accepted = wallet.pay(account, to, amount, AUTHORIZATION_TTL_S, submit)
    try:
        return _wait_confirmed(wallet, transfer_of(accepted))
    except WalletError as exc:
        if exc.key != "payment_failed" or exc.values.get("code") != "nonce_ahead":
            raise
    return _wait_confirmed(wallet, transfer_of(wallet.pay(account, to, amount, AUTHORIZATION_TTL_S, submit)))


def _done(wallet: WalletContext, state: dict[str, Any], what: str) -> None:
    wallet.say("confirmed_in", what=what, tx=state["tx_hash"])


def _amount(value: int) -> str:
    return f"{value:,}"


def _bad_code(problem: object) -> WalletError:
    return WalletError.of("not_a_payment_code", problem=problem)


# --------------------------------------------------------------------------- commands
@click.command(cls=LocalizedCommand)
@pass_wallet
def balance(wallet: WalletContext) -> None:
    """Show the wallet's balance (coins on chain, in flight, available), its points with their next expiry, and
    the cap."""
    wallet.logged_in()
    t = wallet.t
    body = wallet.api.request("GET", "/v1/wallet/balance", auth=True)
    table = wallet.table(body["wallet"], show_header=False)
    table.add_column("what")
    table.add_column("coins", justify="right")
    table.add_row(t("balance"), _amount(body["balance"]))
    if body["pending_out"] or body["pending_in"]:
        table.add_row(t("being_sent"), _amount(-body["pending_out"]))
        table.add_row(t("being_received"), _amount(body["pending_in"]))
    table.add_row(t("available"), _amount(body["available"]))
    if body.get("points") or body.get("points_expired"):
        table.add_row(t("points"), _amount(body["points"]))
        if body.get("next_expiry"):
            last_day = wallet.clock.parse(body["next_expiry"]) - timedelta(seconds=1)
            table.add_row(t("points_next_expiry", day=wallet.clock.show_date(last_day)),
                          _amount(body["next_expiry_points"]))
        if body.get("points_expired"):
            table.add_row(t("points_expired"), _amount(body["points_expired"]))
    if body["cap"] is not None:
        table.add_row(t("cap"), _amount(body["cap"]))
    for what, coins in reserve_rows(wallet):
        table.add_row(what, _amount(coins))
    wallet.console.print(table)
    if not body["verified"]:
        wallet.console.print(f"[yellow]{escape(t('not_verified_wallet'))}[/]")


def _show_split(wallet: WalletContext, amount: int) -> None:
    """Before a payment at a shop: how much of it the wallet's points pay (first, earliest expiry first) and
    how much its coins."""
    points = int(wallet.api.request("GET", "/v1/wallet/balance", auth=True).get("points") or 0)
    if points:
        used = min(points, amount)
        wallet.say("pay_split", points=_amount(used), coins=_amount(amount - used))


def _counterparty(wallet: WalletContext, row: dict[str, Any]) -> str:
    """Who the other side is, in words the resident knows: the shop, the city, their other wallet."""
    kind, address = row["counterparty_kind"], row["counterparty"] or ""
    if kind in ("lost_wallet", "new_wallet"):
        return wallet.t("cp_" + kind, address=address)
    return str(row["counterparty_name"] or address)


def _memo(wallet: WalletContext, row: dict[str, Any]) -> str:
    title = row.get("title") or {}
    parts = [title.get(wallet.lang) or title.get("ja") or "", row.get("memo") or ""]
    return " ".join(p for p in parts if p)


@click.command(cls=LocalizedCommand)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="most movements shown")
@click.option("--csv", "as_csv", is_flag=True, help="write CSV to stdout instead of a table")
@pass_wallet
def history(wallet: WalletContext, limit: int, as_csv: bool) -> None:
    """Every movement of my balance, newest first, with the balance after each."""
    account = wallet.logged_in()
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    total = 0
    while len(rows) < limit:
        params: dict[str, Any] = {"limit": min(100, limit - len(rows))}
        if cursor:
            params["starting_after"] = cursor
        page = wallet.api.request("GET", "/v1/wallet/movements", params=params, auth=True)
        rows += page["data"]
        total = page["balance"] if cursor is None else total
        cursor = page.get("next_cursor")
        if not page["has_more"] or not cursor:
            break
    clock = wallet.clock
    if as_csv:  # for spreadsheets and scripts: the API's own names and values, times in the city's zone
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["id", "at", "kind", "direction", "counterparty", "counterparty_name", "amount",
                         "balance_after", "status", "memo", "tx_hash", "unit", "points"])
        for row in rows:
            writer.writerow([row["id"], clock.iso(row["at"]), row["kind"], "in" if row["amount"] > 0 else "out",
                             row["counterparty"] or "", row["counterparty_name"] or "", row["amount"],
                             "" if row["balance_after"] is None else row["balance_after"], row["status"],
                             _memo(wallet, row), row["tx_hash"] or "", row.get("unit", "coins"),
                             row.get("points", 0)])
        return
    t = wallet.t
    if not rows:
        wallet.say("no_transfers")
        return
    table = wallet.table(t("history_title", address=account.address))
    for column in ("col_date", "col_kind", "col_counterparty", "col_amount", "col_balance_after", "status",
                   "col_memo"):
        table.add_column(t(column), justify="right" if column in ("col_amount", "col_balance_after") else "left")
    for row in rows:
        amount = row["amount"]
        figure = _amount(abs(amount))
        if row.get("unit") == "points":  # a credit or an expiry of points: the coin balance did not move
            figure = t("points_unit", amount=figure)
        elif row.get("points"):
            figure += t("paid_with_points", points=_amount(row["points"]))
        shown = f"[green]+{figure}[/]" if amount > 0 else f"[red]-{figure}[/]"
        after = "" if row["balance_after"] is None else _amount(row["balance_after"])
        table.add_row(clock.show(row["at"]), t.term("tk", row["kind"]), escape(_counterparty(wallet, row)), shown,
                      after, t.term("ts", row["status"]), escape(_memo(wallet, row)))
    wallet.console.print(table)
    on_chain = wallet.api.request("GET", "/v1/wallet/balance", auth=True)["balance"]
    if on_chain == total:
        wallet.say("history_adds_up", balance=_amount(total))
    else:
        wallet.console.print(t("history_catching_up", indexed=_amount(total), balance=_amount(on_chain)))


@click.command(cls=LocalizedCommand)
@click.argument("target")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--offline", is_flag=True, help="no network: sign against my offline reserve (TARGET: the merchant's "
              "code or wallet address; give --amount)")
@click.option("--amount", type=click.IntRange(1), default=None, help="coins to pay offline")
@click.option("--valid-hours", type=click.IntRange(1, 72), default=48, show_default=True,
              help="how long the offline payment stays valid for the counter to relay it")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="file for the offline payment code (default offline-<nonce>.txt)")
@click.option("--no-qr", is_flag=True, help="offline: print only the code, no QR")
@pass_wallet
def pay(wallet: WalletContext, target: str, yes: bool, offline: bool, amount: int | None, valid_hours: int,
        out: Path | None, no_qr: bool) -> None:
    """Pay a payment request: its URI (from the QR code) or its id (pr_…); or, ``--offline``, a merchant."""
    if offline:
        offline_pay(wallet, target, amount, valid_hours, out, no_qr, yes)
        return
    t = wallet.t
    uri = None
    if target.startswith("ethereum:"):
        try:
            uri = parse_uri(target)
        except ValueError as exc:
            raise _bad_code(exc) from None
        if uri.request_id is None:
            raise WalletError.of("static_code_use_scan")
        request_id = uri.request_id
    elif target.startswith("pr_"):
        request_id = target
    else:
        raise WalletError.of("give_uri_or_id")
    account = wallet.logged_in()
    checkout = wallet.api.request("GET", f"/v1/pay/requests/{request_id}", auth=True)
    if uri is not None:
        coin = wallet.api.request("GET", "/v1/coin", auth=True)
        if (uri.to.lower(), uri.amount, uri.coin.lower()) != (checkout["pay_to"].lower(), checkout["amount"],
                                                              coin["address"].lower()):
            raise WalletError.of("code_mismatch_request")
    if checkout["status"] != "open":
        raise WalletError.of("request_is", status=t.term("prs", checkout["status"]))
    name = checkout["merchant"]["display_name"]
    if not checkout["merchant_accepts_payments"]:
        raise WalletError.of("merchant_closed", name=name)
    wallet.console.print(t("pay_what", amount=_amount(checkout["amount"]), name=escape(name))
                         + (f" — {escape(checkout['description'])}" if checkout["description"] else ""))
    _show_split(wallet, checkout["amount"])
    if not yes:
        click.confirm(t("confirm_pay"), abort=True)
    state = _pay(wallet, account, checkout["pay_to"], checkout["amount"], lambda authorization: wallet.api.request(
        "POST", f"/v1/pay/requests/{request_id}", json={"authorization": authorization}, auth=True),
        lambda accepted: accepted["transfer"])
    _done(wallet, state, t("paid_to", amount=_amount(checkout["amount"]), name=name))


@click.command(cls=LocalizedCommand)
@click.argument("uri")
@click.option("--amount", type=click.IntRange(1), default=None, help="coins to pay (asked when not given)")
@click.option("--memo", default=None, help="a note for the merchant")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def scan(wallet: WalletContext, uri: str, amount: int | None, memo: str | None, yes: bool) -> None:
    """Pay a merchant's static code (``ethereum:…&merchant=mer_…``): you type the amount."""
    t = wallet.t
    try:
        code = parse_uri(uri)
    except ValueError as exc:
        raise _bad_code(exc) from None
    if code.merchant_id is None:
        raise WalletError.of("not_static_code_pay" if code.request_id else "not_static_code")
    account = wallet.logged_in()
    merchant = wallet.api.request("GET", f"/v1/pay/merchants/{code.merchant_id}", auth=True)
    if merchant["pay_to"].lower() != code.to.lower():
        raise WalletError.of("code_mismatch_merchant")
    name = merchant["merchant"]["display_name"]
    if not merchant["merchant_accepts_payments"]:
        raise WalletError.of("merchant_closed", name=name)
    wallet.say("merchant_is", name=name)
    if amount is None:
        amount = int(click.prompt(t("prompt_amount"), type=click.IntRange(1)))
    _show_split(wallet, amount)
    if not yes:
        click.confirm(t("confirm_pay_amount", amount=_amount(amount), name=name), abort=True)
    state = _pay(wallet, account, merchant["pay_to"], amount, lambda authorization: wallet.api.request(
        "POST", f"/v1/pay/merchants/{code.merchant_id}", json={"authorization": authorization, "memo": memo},
        auth=True), lambda accepted: accepted["transfer"])
    _done(wallet, state, t("paid_to", amount=_amount(amount), name=name))


@click.command(cls=LocalizedCommand)
@click.argument("address")
@click.argument("amount", type=click.IntRange(1))
@click.option("--memo", default=None, help="a note the recipient sees")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def send(wallet: WalletContext, address: str, amount: int, memo: str | None, yes: bool) -> None:
    """Send coins to another wallet (person to person)."""
    t = wallet.t
    try:
        to = checksum(address)
    except InvalidAddress as exc:
        raise WalletError.of("not_an_address_typo" if exc.bad_checksum else "not_an_address", address=address) from None
    account = wallet.logged_in()
    if not yes:
        click.confirm(t("confirm_send", amount=_amount(amount), to=to), abort=True)
    state = _pay(wallet, account, to, amount, lambda authorization: wallet.api.request(
        "POST", "/v1/transfers", json={"authorization": authorization, "memo": memo}, auth=True),
        lambda accepted: accepted)
    _done(wallet, state, t("sent_to", amount=_amount(amount), to=to))


COMMANDS = [balance, history, pay, scan, send]
