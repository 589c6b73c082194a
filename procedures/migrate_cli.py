"""``machi migrate``: move a running city from the v1 contracts to the current ones (docs/coin-storage.md,
"Migration"): ``snapshot`` the old deployment at a block, ``machi deploy --redeploy``, then ``apply``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from chain.errors import MachiError
from chain.migration import MigrationKeys, Snapshot, apply_snapshot, take_snapshot, verify
from procedures import admin_cli
from procedures.commands import fail, out, runtime_or_exit, settings_or_exit


@click.group()
def migrate() -> None:
    """Move the city from the v1 contracts to the current ones (a snapshot at a block, re-applied)."""


@migrate.command("snapshot")
@click.option("--coin", required=True, help="the old RegionalCoin's address")
@click.option("--registry", required=True, help="the old IdentityRegistry's address")
@click.option("--reserve", default=None, help="the old OfflineReserve's address (refused while it holds coins)")
@click.option("--block", type=click.IntRange(0), default=None, help="the block to read (default: the latest)")
@click.option("--out", "path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="where to write the snapshot (JSON)")
def snapshot(coin: str, registry: str, reserve: str | None, block: int | None, path: Path) -> None:
    """Read the old deployment at one block (its coin paused, the outbox drained) into a file; prints the file's
    SHA-256, which two staff sign before ``apply``."""
    runtime = runtime_or_exit()
    try:
        at = runtime.w3.eth.block_number if block is None else block
        taken = take_snapshot(runtime.w3, coin, registry, at, reserve)
    except MachiError as exc:
        fail(str(exc))
    text = taken.to_json()
    path.write_text(text, encoding="utf-8")
    out.print(f"block {taken.block}: supply {taken.supply:,} in {len(taken.coins)} accounts, {len(taken.records)} "
              f"records, {len(taken.rebinds)} recoveries, {len(taken.pending)} pending")
    out.print(f"sha256 {hashlib.sha256(text.encode()).hexdigest()}  {path}")


def _signed_snapshot(path: Path, sha256: str) -> Snapshot:
    """The snapshot in ``path``, only if it is the file the staff signed (its SHA-256 is ``sha256``)."""
    text = path.read_text(encoding="utf-8")
    if hashlib.sha256(text.encode()).hexdigest() != sha256.lower().removeprefix("0x"):
        fail("the file's SHA-256 is not the one given: apply only the snapshot the staff signed")
    try:
        return Snapshot.from_json(text)
    except (MachiError, ValueError, KeyError, TypeError) as exc:
        fail(f"not a snapshot file: {exc}")


@migrate.command("apply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sha256", required=True, help="the snapshot file's SHA-256 as signed by two staff")
@click.option("--keystore", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="the admin key's keystore (default MACHI_ADMIN_KEYSTORE; development: MACHI_ADMIN_KEY)")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="read the keystore password from this file (else prompted)")
def apply(path: Path, sha256: str, keystore: Path | None, password_file: Path | None) -> None:
    """Rebuild the snapshot on the deployment the manifest names (fresh from ``machi deploy --redeploy``), with
    the admin key and the registrar, freezer and recovery keys; then compare. Exits 1 on any difference."""
    settings = settings_or_exit()
    taken = _signed_snapshot(path, sha256)
    admin = admin_cli.open_admin_key(settings, keystore, password_file)
    runtime = runtime_or_exit()
    try:
        keys = MigrationKeys(admin=admin, registrar=runtime.keys.registrar, freezer=runtime.keys.freezer,
                             recovery=runtime.keys.recovery)
        report = apply_snapshot(runtime.w3, runtime.registry, runtime.coin, taken, keys)
        problems = verify(taken, runtime.registry, runtime.coin, report)
    except MachiError as exc:
        fail(str(exc))
    out.print(f"{report.transactions} transactions: {report.records} records, {report.coins:,} coins re-minted")
    for wallet in report.grace_expiry:
        out.print(f"[yellow]expired record re-attested with a short grace, expired again after it:[/] {wallet}")
    for lost, eta in report.pending_requested:
        out.print(f"pending recovery of {lost} requested again: due at {eta}")
    for lost, why in report.pending_dropped:
        out.print(f"[yellow]pending recovery of {lost} not carried ({why}): request it again if it still stands[/]")
    for problem in problems:
        out.print(f"[bold red]differs:[/] {problem}")
    if problems:
        raise SystemExit(1)
    out.print("[green]the new deployment matches the snapshot[/]")


@migrate.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sha256", required=True, help="the snapshot file's SHA-256 as signed by two staff")
def verify_command(path: Path, sha256: str) -> None:
    """Compare the deployment the manifest names with the snapshot, with no key (the second staff member runs
    it on their own machine). Expired records re-attested with a grace show as expiry differences. Exits 1 on any
    difference."""
    taken = _signed_snapshot(path, sha256)
    runtime = runtime_or_exit()
    try:
        problems = verify(taken, runtime.registry, runtime.coin)
    except MachiError as exc:
        fail(str(exc))
    for problem in problems:
        out.print(f"[bold red]differs:[/] {problem}")
    if problems:
        raise SystemExit(1)
    out.print("[green]the deployment matches the snapshot[/]")
