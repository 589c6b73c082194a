"""``machi`` — the city operator's command line.

machi node                 run the embedded chain (anvil or Hardhat) in the foreground
machi deploy [--redeploy]  compile and deploy the city's contracts (idempotent)
machi serve                API + background workers (starts the embedded node if needed)
machi worker relayer       the relayer workers alone
machi status               network profile, what the node reports, contracts, database and outbox
machi reconcile            database ledger vs. chain balances and supply (exit 1 on differences)
machi index [--verify]     bring the chain event index up to the head; compare it with the chain
machi report prepaid       the Payment Services Act report: unused balance at a base date, deposit required
machi keys status|rotate   data keys per key-encryption key; re-wrap them under the current one
machi admin roles|grant-role|revoke-role|configure-minter|remove-minter|pause|unpause|set-transfer-rule|set-balance-cap
                           the admin key's acts (keystore + password, or --print-tx for a multisig)
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table
from sqlalchemy import func, select

from chain.errors import DeploymentError, MachiError
from chain.node import LocalNode, wait_for_rpc
from chain.outbox import TxIntent
from chain.scrub import redacted
from procedures import admin_cli
from procedures.civic.cli import open311_keys
from procedures.commands import err, fail, out, settings_or_exit
from procedures.config import Settings
from procedures.identity.cli import test_ca as identity_test_ca
from procedures.indexing import index_command, status_line
from procedures.keys_cli import keys as keys_group
from procedures.logs import configure_logging
from procedures.migrate_cli import migrate as migrate_group
from procedures.offline.cli import disaster
from procedures.profile import embedded_node_config, node_report, profile_rows
from procedures.runtime import Runtime
from procedures.settlement.cli import points_group
from procedures.settlement.cli import reconcile as payments_reconcile
from procedures.settlement.cli import report as report_group
from procedures.wiring import wire

console = err
F = TypeVar("F", bound=Callable[..., Any])


def ensure_node(settings: Settings) -> LocalNode | None:
    """Start the embedded node unless an external chain is configured (MACHI_RPC_URL or MACHI_RPC_URLS)
    or one already answers; None if not ours. Exits with one line when it cannot (an embedded Hardhat
    node must already run: ``machi node``)."""
    if settings.external_rpc:
        return None
    node = LocalNode(embedded_node_config(settings))
    try:
        wait_for_rpc(node.url, timeout=0.5)
        return None  # somebody (machi node, make run) already runs it
    except MachiError:
        pass
    if settings.node_implementation == "hardhat":
        # Its chain lives in the process's memory: one started here would take `machi deploy`'s
        # contracts with it when the command ends.
        fail(f"Hardhat's node keeps its chain only in memory: start it first with `machi node` "
              f"(MACHI_NODE_IMPLEMENTATION=hardhat), then `machi deploy` and `machi serve` use it at {node.url}")
    try:
        return node.start(timeout=90)  # Hardhat (Node.js) takes a while to come up on a busy machine
    except MachiError as exc:
        fail(str(exc))
        raise


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Machi Ledger operator commands."""


@main.command()
def node() -> None:
    """Run the embedded node (anvil, or MACHI_NODE_IMPLEMENTATION=hardhat) in the foreground in the
    network profile's shape; anvil's state persists under var/chain."""
    settings = settings_or_exit()
    try:
        local = LocalNode(embedded_node_config(settings)).start(timeout=90)
    except MachiError as exc:
        fail(str(exc))
        return
    console.print(
        f"[green]chain[/] {settings.node_implementation} {local.url} (chain id {settings.chain_id}); "
        f"state in {local.state_file or 'memory'}; Ctrl-C stops"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not local.running:
                fail(f"{settings.node_implementation} exited unexpectedly; see var/chain/anvil.log")
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()


@main.command()
@click.option("--redeploy", is_flag=True, help="deploy afresh even if a manifest exists (after a node reset)")
@click.option("--keystore", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="the admin key's keystore (default MACHI_ADMIN_KEYSTORE; development: MACHI_ADMIN_KEY)")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="read the keystore password from this file (else prompted)")
def deploy(redeploy: bool, keystore: Path | None, password_file: Path | None) -> None:
    """Compile and deploy the city's contracts with the admin key, granting each service key its own
    role (chain.roles); sends nothing when everything is there."""
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    admin = admin_cli.open_admin_key(settings, keystore, password_file)
    local = ensure_node(settings)
    try:
        runtime = Runtime.create(settings, run_migrations=False)
        try:
            manifest, sent = runtime.deploy(admin, redeploy=redeploy)
        except DeploymentError as exc:
            if redeploy or not sys.stdin.isatty():
                fail(str(exc))
            console.print(f"[yellow]{exc}[/]")
            if not click.confirm("Deploy afresh now?", default=False):
                sys.exit(1)
            manifest, sent = runtime.deploy(admin, redeploy=True)
        table = Table(title=f"Deployed on chain {manifest.chain_id} ({sent} transactions sent)")
        table.add_column("contract")
        table.add_column("address")
        table.add_column("block", justify="right")
        for name, entry in manifest.contracts.items():
            table.add_row(name, entry.address, str(entry.block))
        out.print(table)
    except MachiError as exc:
        fail(str(exc))
    finally:
        if local is not None:
            local.stop()


@main.command()
@click.option("--host", default=None, help="listen address (default MACHI_HOST)")
@click.option("--port", type=int, default=None, help="listen port (default MACHI_PORT)")
@click.option("--workers/--no-workers", default=None, help="run relayer workers in this process")
def serve(host: str | None, port: int | None, workers: bool | None) -> None:
    """Serve the API (and, by default, the background workers)."""
    import uvicorn

    from procedures.app import create_app

    settings = settings_or_exit()
    configure_logging(settings.log_level)
    local = ensure_node(settings)
    try:
        runtime = Runtime.create(settings)
        runtime.manifest  # noqa: B018 - never deploys (the admin key is `machi deploy`'s); fails with the hint
        runtime.check_roles()  # refuses a hot key holding a role it must not
        app = create_app(settings, runtime=runtime, workers=workers)
        bind_host, bind_port = host or settings.host, port or settings.port
        console.print(
            f"[green]Machi Ledger[/] on http://{bind_host}:{bind_port}  "
            f"docs: http://{bind_host}:{bind_port}/docs  health: http://{bind_host}:{bind_port}/healthz"
        )
        # forwarded headers: procedures.api.proxies honours them from MACHI_TRUSTED_PROXIES only
        uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, access_log=False, proxy_headers=False)
    except MachiError as exc:
        fail(str(exc))
    finally:
        if local is not None:
            local.stop()


@main.group()
def worker() -> None:
    """Background workers run on their own."""


@worker.command("relayer")
def worker_relayer() -> None:
    """Run the relayer senders (one per key; waits if another process holds a key's lock) and the
    other background workers, with every final-state handler (``procedures.wiring``)."""
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    try:
        runtime = wire(Runtime.create(settings))
        runtime.manifest  # noqa: B018 - fail fast with the deploy hint
        runtime.check_roles()  # refuses a hot key holding a role it must not
    except MachiError as exc:
        fail(str(exc))
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start_workers()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop_workers()


@main.group()
def admin() -> None:
    """Operator administration: staff accounts, and the admin key's acts on chain (roles, minters,
    pause, transfer policy, caps — signed from a keystore, or printed for a multisig)."""


for _command in admin_cli.COMMANDS:
    admin.add_command(_command)


@admin.command("create-clerk")
@click.argument("username")
@click.option("--role", type=click.Choice(["clerk", "supervisor", "admin"]), default="clerk", show_default=True)
@click.option("--department", default=None, help="routing department (required for clerks)")
@click.option("--name", "display_name", default=None, help="display name")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="read the password from the first line of this file (scripts; else it is prompted, hidden)")
@click.option("--password", default=None, hidden=True, help="the password itself (visible to other users: avoid)")
def create_clerk(username: str, role: str, department: str | None, display_name: str | None,
                 password_file: Path | None, password: str | None) -> None:
    """Create a staff account (bootstrap the first admin with --role admin).

    Asks for the password (at least 10 characters, twice, hidden) unless --password-file gives it."""
    from procedures.auth.service import create_staff
    from procedures.errors import ServiceError

    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
    elif password is None:
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))

    settings = settings_or_exit()
    runtime = Runtime.create(settings)
    try:
        with runtime.sessions() as session, session.begin():
            account = create_staff(
                session,
                runtime.vault,
                username=username,
                password=password,
                role=role,
                department=department,
                display_name=display_name,
            )
            out.print(
                f"created {account.role} [bold]{account.username}[/] (id {account.id}"
                f"{', ' + account.department if account.department else ''}; signing key {account.signing_address})"
            )
    except ServiceError as exc:
        fail(exc.message)


@main.command()
def status() -> None:
    """Show the network profile and what the node reports, the contracts, database and outbox."""
    settings = settings_or_exit()
    table = Table(title="Machi Ledger status", show_header=False)
    table.add_column("what")
    table.add_column("state")
    ok = True
    for what, value in profile_rows(settings):
        table.add_row(what, value)
    try:
        runtime = Runtime.create(settings)
        with runtime.sessions() as session:
            rows = session.execute(select(TxIntent.status, func.count()).group_by(TxIntent.status)).all()
        table.add_row("database", f"{runtime.engine.dialect.name} ok")
        table.add_row("outbox", ", ".join(f"{s}={n}" for s, n in rows) or "empty")
        with runtime.sessions() as session:
            table.add_row("indexer", status_line(session, settings.effective_confirmations))
    except Exception as exc:  # noqa: BLE001
        ok = False
        table.add_row("database", f"[red]{type(exc).__name__}: {exc}[/]")
        out.print(table)
        sys.exit(1)
    try:
        w3 = runtime.w3
        table.add_row("chain", f"answers at {redacted(str(w3.provider.endpoint_uri))}")  # type: ignore[attr-defined]
        for what, value, fine in node_report(w3).rows(settings):
            ok = ok and fine
            table.add_row(what, value if fine else f"[red]{value}[/]")
        manifest = runtime.manifest
        for name, entry in manifest.contracts.items():
            table.add_row(name, entry.address)
    except MachiError as exc:
        ok = False
        hint = "" if settings.external_rpc else " (start it with `machi node`, `machi serve` or `make run`)"
        table.add_row("chain", f"[red]{exc}[/]{hint}")
    out.print(table)
    sys.exit(0 if ok else 1)


main.add_command(identity_test_ca)
main.add_command(payments_reconcile)
main.add_command(report_group)
main.add_command(points_group)
main.add_command(index_command)
main.add_command(keys_group)
main.add_command(disaster)
main.add_command(migrate_group)
admin.add_command(open311_keys)

if __name__ == "__main__":
    main()
