"""``machi reconcile`` (the database ledger against the chain), ``machi report prepaid`` (the Payment
Services Act report) and ``machi points`` (the sweep of expired points, the fund), from the operator's shell."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from chain.errors import MachiError
from procedures.config import get_settings
from procedures.indexing import catch_up
from procedures.runtime import Runtime
from procedures.settlement import points, prepaid
from procedures.settlement.reconcile import reconcile as run_reconciliation


@click.command("reconcile")
@click.option("--json", "as_json", is_flag=True, help="print the full report as JSON")
@click.option("--wallet", "wallets", multiple=True, help="also check this wallet (repeatable)")
def reconcile(as_json: bool, wallets: tuple[str, ...]) -> None:
    """Compare confirmed coin movements in the database with chain balances and total supply.

    Exits 1 when anything differs (wallet balances, supply, or records out of step with the chain).
    """
    out, err = Console(), Console(stderr=True)
    try:
        runtime = Runtime.create(get_settings())
        with runtime.sessions() as session:
            report = run_reconciliation(session, runtime, list(wallets))
    except MachiError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        sys.exit(0 if report["ok"] else 1)
    supply = report["supply"]
    out.print(f"block {report['block']}: {report['wallets_checked']} wallets, {report['movements']} movements, "
              f"{report['in_flight']} in flight")
    out.print(f"supply  ledger {supply['ledger']:,}  chain {supply['chain']:,}  difference {supply['difference']:,}")
    if report["differences"]:
        table = Table(title="Balance differences (chain − ledger)")
        for column in ("wallet", "label", "ledger", "chain", "difference"):
            table.add_column(column, justify="right" if column in ("ledger", "chain", "difference") else "left")
        for row in report["differences"]:
            table.add_row(row["wallet"], row["label"] or "", f"{row['ledger']:,}", f"{row['chain']:,}",
                          f"{row['difference']:+,}")
        out.print(table)
    for problem in report["record_problems"]:
        out.print(f"[yellow]{problem['type']} {problem['id']}:[/] {problem['problem']}")
    out.print("[green]reconciled: no differences[/]" if report["ok"] else "[red]differences found[/]")
    sys.exit(0 if report["ok"] else 1)


@click.group("report")
def report() -> None:
    """Reports the city files."""


@report.command("prepaid")
@click.option("--base-date", type=click.DateTime(["%Y-%m-%d"]), help="March 31 or September 30 (default: the latest)")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]),
              help="an interim figure at this time (the city's time) instead")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="also write the CSV here")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def prepaid_report(base_date: datetime | None, as_of: datetime | None, csv_path: Path | None, as_json: bool) -> None:
    """The unused balance at a base date and the deposit it requires (資金決済法), from the chain.

    Brings the chain index up to date first (unless a running service does). Exits 2 on an error.
    """
    out, err = Console(), Console(stderr=True)
    day: date | None = base_date.date() if base_date else None
    try:
        runtime = Runtime.create(get_settings())
        catch_up(runtime)
        with runtime.sessions() as session:
            figures = prepaid.report_for(session, runtime, day, as_of)
    except MachiError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    if csv_path is not None:
        csv_path.write_text(prepaid.to_csv(figures), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(figures.to_dict(), ensure_ascii=False, indent=2))
        return
    title = f"基準日 {figures.base_date}" if figures.base_date else f"集計時点 {figures.as_of}"
    table = Table(title=f"前払式支払手段 — {title} (block {figures.block}, {figures.block_time})")
    table.add_column("")
    table.add_column("¥", justify="right")
    for name in ("unused_balance", "residents_wallets", "offline_reserve", "merchants_unredeemed", "city_accounts",
                 "total_supply", "issued", "redeemed", "required_deposit"):
        table.add_row(f"{prepaid.CSV_HEADINGS[name]} ({name})", f"{getattr(figures, name):,}")
    out.print(table)
    out.print(f"period from {figures.period_start}; {figures.holders} holders; chain check: {figures.chain_check}"
              + (f" ({figures.chain_differences} differences)" if figures.chain_differences else ""))
    if csv_path is not None:
        out.print(f"CSV written to {csv_path}")


@click.group("points")
def points_group() -> None:
    """Points: the sweep of expired points back to the city's fund, and the fund."""


@points_group.command("sweep")
@click.option("--wallet", "wallets", multiple=True,
              help="sweep this wallet only (repeatable; default: every wallet that ever received points)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def points_sweep(wallets: tuple[str, ...], as_json: bool) -> None:
    """Queue the sweep of every expired point back to the fund (batched, sent by the service's points key).

    Idempotent: wallets without expired points are left alone, so a second run queues nothing. The index is
    caught up first (the wallets that received points come from it).
    """
    err = Console(stderr=True)
    try:
        runtime = Runtime.create(get_settings())
        catch_up(runtime)
        with runtime.sessions.begin() as session:
            result = points.sweep_expired(session, runtime, list(wallets) or None)
    except MachiError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(asdict(result)))
        return
    click.echo(f"{result.checked} wallets checked, {result.wallets} with expired points: {result.points:,} points "
               f"back to the fund in {len(result.intents)} queued transactions")


@points_group.command("fund")
@click.option("--json", "as_json", is_flag=True, help="print the fund as JSON")
def points_fund(as_json: bool) -> None:
    """The points fund on chain: its coins, how many back unswept points, and how many are free."""
    runtime = Runtime.create(get_settings())
    fund = runtime.coin.points_fund()
    figures = {"address": fund.address, "coins": fund.coins, "reserved": fund.reserved, "free": fund.free}
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(f"fund {fund.address}: {fund.coins:,} coins, {fund.reserved:,} backing points, {fund.free:,} free")
