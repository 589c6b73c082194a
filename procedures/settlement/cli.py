"""``machi reconcile``: the database ledger against the chain, from the operator's shell."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from chain.errors import MachiError
from procedures.config import get_settings
from procedures.runtime import Runtime
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
