"""The day's statement at the counter.

    machi-pos statement [--date YYYY-MM-DD] [--csv FILE]   payments and refunds of one day (city time)

It is the merchant API's CSV statement (``GET /v1/statements``) for the day, shown as a table with the
totals; ``--csv`` also keeps the CSV as the service sent it (for the accounts).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from pos.context import PosContext, pass_pos
from protocol.citytime import city_clock

__all__ = ["COMMANDS"]


def _day(value: str | None) -> date:
    if value is None:
        return city_clock().today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("YYYY-MM-DD", param_hint="--date") from None


@click.command()
@click.option("--date", "day", default=None,
              help="the day, YYYY-MM-DD (default: today in the city, MACHI_CITY_TIMEZONE)")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also save the statement CSV")
@pass_pos
def statement(pos: PosContext, day: str | None, csv_path: Path | None) -> None:
    """The day's payments and refunds, with totals."""
    t, chosen = pos.t, _day(day)
    merchant = pos.api.merchant()
    clock = city_clock()
    start, end = clock.start_of_day(chosen), clock.start_of_day(chosen + timedelta(days=1))
    text = pos.api.statement_csv(start.isoformat(), end.isoformat())
    if csv_path is not None:
        csv_path.write_text(text, encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        pos.say("no_rows")
    else:
        table = Table(title=t("statement_title", day=chosen.isoformat(), name=escape(merchant["display_name"])))
        for column in ("col_time", "col_type", "col_id", "col_description", "col_effect"):
            table.add_column(t(column), justify="right" if column == "col_effect" else "left")
        for row in rows:
            settled = clock.parse(row["settled_at"])
            effect = int(row["balance_effect"])
            table.add_row(settled.strftime("%H:%M:%S"), t.term("type", row["type"]), row["id"],
                          escape(row["description"].removeprefix("'")),
                          f"[green]+{effect:,}[/]" if effect > 0 else f"[red]{effect:,}[/]")
        pos.console.print(table)
    payments = [int(r["amount"]) for r in rows if r["type"] == "payment"]
    refunds = [int(r["amount"]) for r in rows if r["type"] == "refund"]
    pos.say("total_payments", count=len(payments), amount=f"{sum(payments):,}")
    pos.say("total_refunds", count=len(refunds), amount=f"{sum(refunds):,}")
    pos.say("total_net", amount=f"{sum(payments) - sum(refunds):,}")
    if csv_path is not None:
        pos.say("csv_written", path=csv_path)


COMMANDS = [statement]
