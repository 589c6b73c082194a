"""``machi keys`` — the key-encryption keys behind encryption at rest.

    machi keys status     live data keys per KEK, and which KEK wraps new ones
    machi keys rotate     re-wrap every data key under the current KEK (MACHI_KEK_ID), service running

A rotation, with no downtime (docs/privacy.md, "Keys"): give every process the new KEK besides the
old one (``MACHI_KEKS``) with the old still current; then make the new one current
(``MACHI_KEK_ID``) everywhere; run ``machi keys rotate``; when ``machi keys status`` shows no data key
under the old KEK, remove it from ``MACHI_KEKS``.
"""

from __future__ import annotations

import sys

import click
from rich.table import Table

from chain.errors import MachiError
from procedures.commands import err, fail, out, runtime_or_exit
from procedures.crypto import kek_counts, rotate
from procedures.runtime import Runtime

__all__ = ["keys"]

def _runtime() -> Runtime:
    return runtime_or_exit(code=2)


@click.group("keys")
def keys() -> None:
    """Key-encryption keys: see where data keys stand, rotate them to the current KEK."""


@keys.command("status")
def status() -> None:
    """Live data keys per KEK (erased ones hold no key) and the KEK that wraps new ones."""
    runtime = _runtime()
    ring = runtime.vault.keys
    with runtime.sessions() as session:
        counts = kek_counts(session)
    table = Table(title="Data keys by key-encryption key")
    for column in ("KEK", "data keys", "configured", "wraps new keys"):
        table.add_column(column, justify="right" if column == "data keys" else "left")
    for kek_id in sorted(set(counts) | ring.ids):
        table.add_row(kek_id, f"{counts.get(kek_id, 0):,}", "yes" if kek_id in ring.ids else "[red]NO[/]",
                      "yes" if kek_id == ring.current else "")
    out.print(table)
    missing = set(counts) - ring.ids
    if missing:
        err.print(f"[bold red]error:[/] data keys under {', '.join(sorted(missing))} cannot be read: "
                  "add those KEKs to MACHI_KEKS")
        sys.exit(1)


@keys.command("rotate")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="data keys re-wrapped per transaction (short transactions keep the service responsive)")
def rotate_command(batch_size: int) -> None:
    """Re-wrap every data key under the current KEK while the service runs (idempotent)."""
    runtime = _runtime()
    try:
        report = rotate(runtime.sessions, runtime.vault, batch=batch_size)
    except MachiError as exc:
        fail(str(exc))
    out.print(f"re-wrapped {report.rewrapped:,} data keys under KEK [bold]{report.kek_id}[/]")
    if report.remaining:
        err.print(f"[yellow]{report.remaining:,} data keys are still under another KEK (written by a process "
                  f"that does not wrap under {report.kek_id} yet?): run `machi keys rotate` again[/]")
        sys.exit(1)
    others = sorted(runtime.vault.keys.ids - {report.kek_id})
    if others:
        out.print(f"no data key needs {', '.join(others)} any more: remove them from MACHI_KEKS")
