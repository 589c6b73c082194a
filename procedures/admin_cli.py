"""``machi admin …`` acts of the admin key: role grants, minter budgets, pause, transfer policy, caps.

The admin key is never the service's: each command opens it from a keystore for one transaction
(``--keystore`` or ``MACHI_ADMIN_KEYSTORE``; the password prompted, hidden, or read from
``--password-file``), or — when the admin is a multisig contract — ``--print-tx`` prints the unsigned
transaction (to, data, value, chain id) to submit there, and nothing is signed. In development on the
embedded chain the development admin key (``MACHI_ADMIN_KEY``) is used when no keystore is given.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount
from rich.table import Table

from chain.contracts.base import Call, send_call
from chain.contracts.registry import AssuranceLevel, Kind
from chain.errors import MachiError
from chain.roles import CONTRACTS
from procedures.commands import fail, out, runtime_or_exit
from procedures.config import Settings
from procedures.role_keys import key_table, load_admin_key
from procedures.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])

_KINDS = {k.name.lower(): k for k in Kind if k is not Kind.NONE}
_LEVELS = {level.name.lower().replace("_", "-"): level for level in AssuranceLevel if level is not AssuranceLevel.NONE}


def admin_key_options(function: F) -> F:
    """``--keystore``, ``--password-file`` and ``--print-tx``, shared by every admin act."""
    function = click.option("--print-tx", is_flag=True,
                            help="print the unsigned transaction (JSON) for the admin multisig; sign nothing")(function)
    function = click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            default=None, help="read the keystore password from this file (else prompted)")(function)
    function = click.option("--keystore", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            default=None, help="the admin key's keystore (default MACHI_ADMIN_KEYSTORE)")(function)
    return function


def open_admin_key(settings: Settings, keystore: Path | None, password_file: Path | None) -> LocalAccount:
    """The admin key from ``keystore`` (or MACHI_ADMIN_KEYSTORE; the password from ``password_file`` or a
    hidden prompt), else the development key; exits 1 with one line when it cannot be opened."""
    path = keystore or settings.admin_keystore
    password = None
    if path is not None:
        password = (password_file.read_text().rstrip("\n") if password_file is not None
                    else click.prompt("Admin keystore password", hide_input=True))
    try:
        return load_admin_key(settings, path, password)
    except MachiError as exc:
        fail(str(exc))
        raise


def _runtime() -> Runtime:
    return runtime_or_exit(run_migrations=False)


def submit(runtime: Runtime, call: Call, what: str, *, keystore: Path | None, password_file: Path | None,
           print_tx: bool) -> None:
    """Print ``call`` for a multisig, or sign it with the admin key and wait for it.

    Exits 1 with one line when the key cannot be opened or the call reverts (the contract's error).
    """
    if print_tx:
        out.print_json(json.dumps({"to": call.to, "data": "0x" + call.data.hex(), "value": call.value,
                                   "chainId": runtime.w3.eth.chain_id, "description": what}))
        return
    admin = open_admin_key(runtime.settings, keystore, password_file)
    try:
        receipt = send_call(runtime.w3, admin, call, fees=runtime.settings.fee_policy())  # legacy on a QBFT network
    except MachiError as exc:
        fail(str(exc))
        return
    out.print(f"{what}: done in block {receipt['blockNumber']} (tx 0x{bytes(receipt['transactionHash']).hex()})")


def _contract(runtime: Runtime, name: str) -> Any:
    return {"IdentityRegistry": runtime.registry, "RegionalCoin": runtime.coin, "ProcedureLedger": runtime.ledger}[name]


@click.command("roles")
def roles() -> None:
    """The role table: every hot key, its address, the roles it holds on chain, ok or not (exit 1 if not)."""
    try:
        table = key_table(_runtime())
    except MachiError as exc:
        fail(str(exc))
        return
    view = Table(title="Service keys and their on-chain roles")
    for column in ("key", "address", "roles held", "ok"):
        view.add_column(column)
    for row in table["keys"]:
        problems = [f"missing {r}" for r in row["missing"]] + [f"must not hold {r}" for r in row["forbidden"]]
        view.add_row(row["key"], row["address"], ", ".join(row["roles"]) or "—",
                     "[green]ok[/]" if row["ok"] else f"[red]{'; '.join(problems)}[/]")
    out.print(view)
    sys.exit(0 if table["ok"] else 1)


def _role_command(name: str, grant: bool) -> click.Command:
    @click.command(name)
    @click.argument("contract", type=click.Choice(CONTRACTS))
    @click.argument("role")
    @click.argument("address")
    @admin_key_options
    def command(contract: str, role: str, address: str, keystore: Path | None, password_file: Path | None,
                print_tx: bool) -> None:
        runtime = _runtime()
        try:
            client = _contract(runtime, contract)
            call = client.grant_role_call(role, address) if grant else client.revoke_role_call(role, address)
        except (MachiError, ValueError) as exc:
            fail(str(exc))
            return
        submit(runtime, call, f"{contract}.{'grantRole' if grant else 'revokeRole'}({role}, {address})",
               keystore=keystore, password_file=password_file, print_tx=print_tx)

    command.help = (f"{'Grant' if grant else 'Revoke'} ROLE (e.g. FREEZER_ROLE) on CONTRACT "
                    f"{'to' if grant else 'from'} ADDRESS.")
    return command


grant_role = _role_command("grant-role", True)
revoke_role = _role_command("revoke-role", False)


@click.command("configure-minter")
@click.argument("minter")
@click.argument("allowance", type=click.IntRange(min=0))
@admin_key_options
def configure_minter(minter: str, allowance: int, keystore: Path | None, password_file: Path | None,
                     print_tx: bool) -> None:
    """Set MINTER's budget to ALLOWANCE coins (the top-up or benefits minter's)."""
    runtime = _runtime()
    submit(runtime, runtime.coin.configure_minter_call(minter, allowance), f"configureMinter({minter}, {allowance})",
           keystore=keystore, password_file=password_file, print_tx=print_tx)


@click.command("remove-minter")
@click.argument("minter")
@admin_key_options
def remove_minter(minter: str, keystore: Path | None, password_file: Path | None, print_tx: bool) -> None:
    """Take MINTER's budget and minting right away."""
    runtime = _runtime()
    submit(runtime, runtime.coin.remove_minter_call(minter), f"removeMinter({minter})",
           keystore=keystore, password_file=password_file, print_tx=print_tx)


@click.command("pause")
@admin_key_options
def pause(keystore: Path | None, password_file: Path | None, print_tx: bool) -> None:
    """Pause every coin transfer, mint and relay."""
    runtime = _runtime()
    submit(runtime, runtime.coin.pause_call(), "pause()", keystore=keystore, password_file=password_file,
           print_tx=print_tx)


@click.command("unpause")
@admin_key_options
def unpause(keystore: Path | None, password_file: Path | None, print_tx: bool) -> None:
    """Lift the pause."""
    runtime = _runtime()
    submit(runtime, runtime.coin.unpause_call(), "unpause()", keystore=keystore, password_file=password_file,
           print_tx=print_tx)


@click.command("set-transfer-rule")
@click.argument("from_kind", type=click.Choice(sorted(_KINDS)))
@click.argument("to_kind", type=click.Choice(sorted(_KINDS)))
@click.option("--allow/--refuse", required=True, help="allow or refuse transfers FROM_KIND → TO_KIND")
@admin_key_options
def set_transfer_rule(from_kind: str, to_kind: str, allow: bool, keystore: Path | None, password_file: Path | None,
                      print_tx: bool) -> None:
    """Allow or refuse coin transfers between two kinds of wallet (the transfer policy)."""
    runtime = _runtime()
    submit(runtime, runtime.coin.set_transfer_rule_call(_KINDS[from_kind], _KINDS[to_kind], allow),
           f"setTransferRule({from_kind}, {to_kind}, {allow})", keystore=keystore, password_file=password_file,
           print_tx=print_tx)


@click.command("set-balance-cap")
@click.argument("level", type=click.Choice(sorted(_LEVELS)))
@click.argument("cap", type=click.IntRange(min=0))
@admin_key_options
def set_balance_cap(level: str, cap: int, keystore: Path | None, password_file: Path | None, print_tx: bool) -> None:
    """The most coins a resident wallet of LEVEL may hold."""
    runtime = _runtime()
    submit(runtime, runtime.coin.set_balance_cap_call(_LEVELS[level], cap), f"setBalanceCap({level}, {cap})",
           keystore=keystore, password_file=password_file, print_tx=print_tx)


#: Every admin act, added to ``machi admin`` by ``procedures.cli``.
COMMANDS = (roles, grant_role, revoke_role, configure_minter, remove_minter, pause, unpause, set_transfer_rule,
            set_balance_cap)
