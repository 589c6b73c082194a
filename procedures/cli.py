"""``machi`` — the city operator's command line.

machi node                 run the embedded chain (anvil) in the foreground
machi deploy [--redeploy]  compile and deploy the city's contracts (idempotent)
machi serve                API + background workers (starts the embedded node if needed)
machi worker relayer       the relayer workers alone
machi status               node, contracts, database and outbox at a glance
machi reconcile            database ledger vs. chain balances and supply (exit 1 on differences)
machi index [--verify]     bring the chain event index up to the head; compare it with the chain
machi keys status|rotate   data keys per key-encryption key; re-wrap them under the current one
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from chain.errors import DeploymentError, MachiError
from chain.node import LocalNode, NodeConfig, wait_for_rpc
from chain.outbox import TxIntent
from procedures.config import Settings, get_settings
from procedures.identity.cli import test_ca as identity_test_ca
from procedures.indexing import index_command, status_line
from procedures.keys_cli import keys as keys_group
from procedures.logs import configure_logging
from procedures.runtime import Runtime
from procedures.settlement.cli import reconcile as payments_reconcile
from procedures.wiring import wire

console = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    sys.exit(1)


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # noqa: BLE001 - pydantic says exactly which variable is wrong
        _fail(f"bad configuration: {exc}")
        raise


def _node_config(settings: Settings) -> NodeConfig:
    return NodeConfig(
        port=settings.node_port,
        chain_id=settings.chain_id,
        block_time=settings.block_time,
        state_dir=settings.var_dir / "chain",
    )


def ensure_node(settings: Settings) -> LocalNode | None:
    """Start the embedded node unless MACHI_RPC_URL is set or one already answers; None if not ours."""
    if settings.rpc_url:
        return None
    node = LocalNode(_node_config(settings))
    try:
        wait_for_rpc(node.url, timeout=0.5)
        return None  # somebody (machi node, make run) already runs it
    except MachiError:
        pass
    return node.start()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Machi Ledger operator commands."""


@main.command()
def node() -> None:
    """Run the embedded anvil in the foreground; its state persists under var/chain."""
    settings = _settings()
    try:
        local = LocalNode(_node_config(settings)).start()
    except MachiError as exc:
        _fail(str(exc))
        return
    console.print(
        f"[green]chain[/] {local.url} (chain id {settings.chain_id}); state in {local.state_file}; Ctrl-C stops"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not local.running:
                _fail("anvil exited unexpectedly; see var/chain/anvil.log")
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()


@main.command()
@click.option("--redeploy", is_flag=True, help="deploy afresh even if a manifest exists (after a node reset)")
def deploy(redeploy: bool) -> None:
    """Compile and deploy the city's contracts; sends nothing when everything is there."""
    settings = _settings()
    configure_logging(settings.log_level)
    local = ensure_node(settings)
    try:
        runtime = Runtime.create(settings, run_migrations=False)
        try:
            manifest, sent = runtime.deploy(redeploy=redeploy)
        except DeploymentError as exc:
            if redeploy or not sys.stdin.isatty():
                _fail(str(exc))
            console.print(f"[yellow]{exc}[/]")
            if not click.confirm("Deploy afresh now?", default=False):
                sys.exit(1)
            manifest, sent = runtime.deploy(redeploy=True)
        table = Table(title=f"Deployed on chain {manifest.chain_id} ({sent} transactions sent)")
        table.add_column("contract")
        table.add_column("address")
        table.add_column("block", justify="right")
        for name, entry in manifest.contracts.items():
            table.add_row(name, entry.address, str(entry.block))
        out.print(table)
    except MachiError as exc:
        _fail(str(exc))
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

    settings = _settings()
    configure_logging(settings.log_level)
    local = ensure_node(settings)
    try:
        runtime = Runtime.create(settings)
        runtime.ensure_deployed()
        app = create_app(settings, runtime=runtime, workers=workers)
        bind_host, bind_port = host or settings.host, port or settings.port
        console.print(
            f"[green]Machi Ledger[/] on http://{bind_host}:{bind_port}  "
            f"docs: http://{bind_host}:{bind_port}/docs  health: http://{bind_host}:{bind_port}/healthz"
        )
        uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, access_log=False)
    except MachiError as exc:
        _fail(str(exc))
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
    settings = _settings()
    configure_logging(settings.log_level)
    try:
        runtime = wire(Runtime.create(settings))
        runtime.manifest  # noqa: B018 - fail fast with the deploy hint
    except MachiError as exc:
        _fail(str(exc))
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
    """Operator administration (staff accounts, …)."""


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

    settings = _settings()
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
        _fail(exc.message)


@main.command()
def status() -> None:
    """Show the node, contracts, database and outbox."""
    settings = _settings()
    table = Table(title="Machi Ledger status", show_header=False)
    table.add_column("what")
    table.add_column("state")
    ok = True
    try:
        runtime = Runtime.create(settings)
        with runtime.sessions() as session:
            rows = session.execute(select(TxIntent.status, func.count()).group_by(TxIntent.status)).all()
        table.add_row("database", f"{runtime.engine.dialect.name} ok")
        table.add_row("outbox", ", ".join(f"{s}={n}" for s, n in rows) or "empty")
        with runtime.sessions() as session:
            table.add_row("indexer", status_line(session, settings.confirmations))
    except Exception as exc:  # noqa: BLE001
        ok = False
        table.add_row("database", f"[red]{type(exc).__name__}: {exc}[/]")
        out.print(table)
        sys.exit(1)
    try:
        w3 = runtime.w3
        table.add_row("chain", f"{settings.effective_rpc_url} id {w3.eth.chain_id} block {w3.eth.block_number}")
        manifest = runtime.manifest
        for name, entry in manifest.contracts.items():
            table.add_row(name, entry.address)
    except MachiError as exc:
        ok = False
        hint = "" if settings.rpc_url else " (start it with `machi node`, `machi serve` or `make run`)"
        table.add_row("chain", f"[red]{exc}[/]{hint}")
    out.print(table)
    sys.exit(0 if ok else 1)


main.add_command(identity_test_ca)
main.add_command(payments_reconcile)
main.add_command(index_command)
main.add_command(keys_group)

if __name__ == "__main__":
    main()
