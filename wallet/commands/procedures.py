"""E-application commands: the catalog, filing, following, correcting, withdrawing, receipts.

    machi-wallet procedures                           the catalog
    machi-wallet apply CODE [--form F.json] [--attach FILE …]
                                                      file an application (prompts from the form schema
                                                      without --form); pays the fee, if any, in coins
    machi-wallet applications                         my applications
    machi-wallet status ID                            one application: status, history, correction request
    machi-wallet withdraw ID                          withdraw before a decision
    machi-wallet respond ID --form F.json [--attach FILE …]
                                                      answer a correction request (補正); files are kept
                                                      unless --attach is given
    machi-wallet receipt ID [--verify] [--out F.json] the application's receipt; --verify checks it against
                                                      the chain alone (--rpc-url, --ledger)

Everything the wallet signs is built locally (``protocol.applications``): the content hash of the
answers and files, the EIP-712 ``ResidentAct`` signature, the ERC-3009 fee authorization. Receipts are
checked against the chain by ``protocol.receipts``.
"""

from __future__ import annotations

import json
import mimetypes
import os
import time
from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from rich.table import Table

from chain.errors import NodeError
from chain.rpc import connect
from protocol import applications as protocol
from protocol.receipts import ledger_client, verify_receipt
from wallet.context import WalletContext, pass_wallet

__all__ = ["COMMANDS"]

SIGNATURE_TTL_S = 600
FEE_AUTHORIZATION_TTL_S = 1800


def _lang() -> str:
    return "ja" if os.environ.get("LANG", "").startswith("ja") else "en"


def _title(titles: dict[str, str] | None, lang: str) -> str:
    if not titles:
        return ""
    return titles.get(lang) or titles.get("en") or next(iter(titles.values()))


def _sign_act(wallet: WalletContext, account: LocalAccount, action: str, application: str,
              content: str) -> dict[str, Any]:
    signing = wallet.api.request("GET", "/v1/procedures/signing")
    nonce = protocol.hex32(os.urandom(32))
    deadline = int(time.time()) + SIGNATURE_TTL_S
    typed = protocol.resident_act(signing["chain_id"], signing["ledger"], applicant=account.address, action=action,
                                  application=application, content=content, nonce=nonce, deadline=deadline)
    return {"nonce": nonce, "deadline": deadline, "signature": protocol.sign_typed(account, typed)}


# --------------------------------------------------------------------------- forms
def _load_form(path: Path) -> dict[str, Any]:
    try:
        form = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the form {path}: {exc}") from None
    if not isinstance(form, dict):
        raise click.ClickException(f"{path} must hold a JSON object")
    return form


def prompt_form(schema: dict[str, Any], lang: str) -> dict[str, Any]:
    """Ask for every field of a form schema (object of scalars, nested objects and arrays of objects)."""
    answers: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        label = _title(prop.get("x-titles"), lang) or name
        value = _prompt_value(prop, label, name in required, lang)
        if value is not None:
            answers[name] = value
    return answers


def _prompt_value(prop: dict[str, Any], label: str, required: bool, lang: str) -> Any:
    kind = prop.get("type")
    suffix = "" if required else (" (任意)" if lang == "ja" else " (optional)")
    if "const" in prop and isinstance(prop["const"], bool):
        if not click.confirm(label + suffix, default=False) and prop["const"]:
            raise click.ClickException(f"{label}: required to proceed")
        return prop["const"]
    if kind == "boolean":
        return click.confirm(label + suffix, default=bool(prop.get("default", False)))
    if kind == "object":
        click.echo(f"— {label}")
        return prompt_form(prop, lang)
    if kind == "array":
        item = prop.get("items") or {}
        count = click.prompt(f"{label}: how many?", type=click.IntRange(prop.get("minItems", 0),
                                                                         prop.get("maxItems", 50)))
        return [_prompt_value(item, f"{label} #{i + 1}", True, lang) for i in range(count)]
    if "enum" in prop:
        choice = click.prompt(label + suffix, type=click.Choice([str(v) for v in prop["enum"]]),
                              default=None if required else "", show_default=False)
        return choice or None
    if kind in ("integer", "number"):
        raw = click.prompt(label + suffix, default="" if not required else None, show_default=False)
        if raw == "":
            return None
        try:
            return int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise click.ClickException(f"{label}: not a number") from None
    hint = " (YYYY-MM-DD)" if prop.get("format") == "date" else ""
    raw = click.prompt(label + hint + suffix, default="" if not required else None, show_default=False)
    return raw or None


def _files(paths: tuple[Path, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(request attachments, content-hash digests) of files given with --attach."""
    import base64

    uploads, digests = [], []
    for path in paths:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = path.read_bytes()
        uploads.append({"name": path.name, "content_type": content_type, "data": base64.b64encode(data).decode()})
        digests.append(protocol.attachment_digest(path.name, content_type, data))
    return uploads, digests


# --------------------------------------------------------------------------- commands
@click.command("procedures")
@pass_wallet
def procedures_(wallet: WalletContext) -> None:
    """List the procedures you can file."""
    lang = _lang()
    catalog = wallet.api.request("GET", "/v1/procedures")["data"]
    table = Table(title="Procedures")
    for column in ("code", "procedure", "fee", "benefit", "identity level"):
        table.add_column(column)
    for entry in catalog:
        fee = f"{entry['fee']}" + (f" × {entry['fee_per']}" if entry.get("fee_per") else "")
        table.add_row(entry["code"], _title(entry["title"], lang), fee, str(entry["benefit"]),
                      str(entry["assurance_level"]))
    wallet.console.print(table)


@click.command()
@click.argument("code")
@click.option("--form", "form_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="answers as a JSON file (default: prompt for each field)")
@click.option("--attach", "attach", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a file to attach (repeatable)")
@click.option("--yes", is_flag=True, help="do not ask before paying a fee")
@pass_wallet
def apply(wallet: WalletContext, code: str, form_path: Path | None, attach: tuple[Path, ...], yes: bool) -> None:
    """File an application for procedure CODE, signed by your wallet."""
    lang = _lang()
    procedure = wallet.api.request("GET", f"/v1/procedures/{code}")
    form = _load_form(form_path) if form_path else prompt_form(procedure["form"], lang)
    uploads, digests = _files(attach)
    account = wallet.logged_in()
    salt = protocol.hex32(os.urandom(32))
    content = protocol.content_hash(procedure["code"], procedure["version"], form, digests, salt)
    body: dict[str, Any] = {"procedure": procedure["code"], "version": procedure["version"], "form": form,
                            "attachments": uploads, "salt": salt,
                            "signature": _sign_act(wallet, account, "submit", "", content)}
    fee = procedure["fee"] * (int(form.get(procedure["fee_per"], 1)) if procedure.get("fee_per") else 1)
    if fee:
        if not yes:
            click.confirm(f"This procedure costs {fee} coins, paid from your wallet now. Continue?", abort=True)
        body["payment"] = _fee_authorization(wallet, account, fee)
    application = wallet.api.request("POST", "/v1/applications", json=body, auth=True)
    wallet.console.print(f"filed [bold]{application['id']}[/] ({_title(procedure['title'], lang)}): "
                         f"{application['status']}" + (f"; fee {fee} coins" if fee else ""))


def _fee_authorization(wallet: WalletContext, account: LocalAccount, amount: int) -> dict[str, Any]:
    signing = wallet.api.request("GET", "/v1/procedures/signing")
    if not signing.get("treasury"):
        raise click.ClickException("the city treasury is not ready; try again shortly")
    return wallet.transfer_authorization(account, signing["treasury"], amount, FEE_AUTHORIZATION_TTL_S)


@click.command()
@click.option("--status", "status_", default=None, help="only applications in this status")
@pass_wallet
def applications(wallet: WalletContext, status_: str | None) -> None:
    """List your applications, newest first."""
    lang = _lang()
    wallet.logged_in()
    params: dict[str, Any] = {"limit": 100}
    if status_:
        params["status"] = status_
    rows = wallet.api.request("GET", "/v1/applications", params=params, auth=True)["data"]
    table = Table(title="My applications")
    for column in ("id", "procedure", "status", "fee", "benefit", "filed"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"], _title(row["procedure"]["title"], lang) or row["procedure"]["code"], row["status"],
                      f"{row['fee']} ({row['fee_status']})" if row["fee"] else "-",
                      f"{row['benefit']} ({row['benefit_status']})" if row["benefit"] else "-",
                      row["submitted_at"][:16].replace("T", " "))
    wallet.console.print(table)


@click.command()
@click.argument("application_id")
@pass_wallet
def status(wallet: WalletContext, application_id: str) -> None:
    """Show one application: status, correction request or decision, history."""
    lang = _lang()
    wallet.logged_in()
    app = wallet.api.request("GET", f"/v1/applications/{application_id}", auth=True)
    console = wallet.console
    console.print(f"[bold]{app['id']}[/] {_title(app['procedure']['title'], lang)} — [bold]{app['status']}[/]")
    if app["fee"]:
        console.print(f"fee: {app['fee']} coins ({app['fee_status']})")
    if app["benefit"]:
        console.print(f"benefit: {app['benefit']} coins ({app['benefit_status']})")
    if app.get("correction") and app["status"] == "returned":
        console.print(f"[yellow]correction requested[/] until {app['correction']['deadline']}: "
                      f"{app['correction']['reason']}")
        console.print(f"answer with: machi-wallet respond {app['id']} --form FILE.json")
    if app.get("decision"):
        reason = app["decision"].get("reason")
        console.print(f"decision: {app['decision']['status']}" + (f" — {reason}" if reason else ""))
    table = Table(title="History")
    for column in ("#", "event", "status", "when", "anchored"):
        table.add_column(column)
    for event in app["events"]:
        table.add_row(str(event["seq"]), event["type"], f"{event['from_status'] or '-'} → {event['to_status']}",
                      event["occurred_at"][:19].replace("T", " "),
                      f"anchor {event['anchor_id']}" if event["anchored"] else "pending")
    console.print(table)


@click.command()
@click.argument("application_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def withdraw(wallet: WalletContext, application_id: str, yes: bool) -> None:
    """Withdraw an application (取下げ) before it is decided."""
    if not yes:
        click.confirm(f"Withdraw {application_id}? This cannot be undone.", abort=True)
    account = wallet.logged_in()
    body = {"signature": _sign_act(wallet, account, "withdraw", application_id, protocol.ZERO_HASH)}
    app = wallet.api.request("POST", f"/v1/applications/{application_id}/withdraw", json=body, auth=True)
    wallet.console.print(f"{app['id']}: {app['status']}")


@click.command()
@click.argument("application_id")
@click.option("--form", "form_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the corrected answers (JSON)")
@click.option("--attach", "attach", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="replace the files with these (repeatable); without it the current files are kept")
@pass_wallet
def respond(wallet: WalletContext, application_id: str, form_path: Path, attach: tuple[Path, ...]) -> None:
    """Answer a correction request (補正) with corrected answers, signed again."""
    form = _load_form(form_path)
    account = wallet.logged_in()
    app = wallet.api.request("GET", f"/v1/applications/{application_id}", auth=True)
    if attach:
        uploads: list[dict[str, Any]] | None
        uploads, digests = _files(attach)
    else:
        uploads = None
        digests = [{"name": a["name"], "content_type": a["content_type"], "size": a["size"], "sha256": a["sha256"]}
                   for a in app["attachments"]]
    salt = protocol.hex32(os.urandom(32))
    content = protocol.content_hash(app["procedure"]["code"], app["procedure"]["version"], form, digests, salt)
    body = {"form": form, "attachments": uploads, "salt": salt,
            "signature": _sign_act(wallet, account, "resubmit", application_id, content)}
    app = wallet.api.request("POST", f"/v1/applications/{application_id}/resubmit", json=body, auth=True)
    wallet.console.print(f"{app['id']}: {app['status']} (revision {app['revision']})")


@click.command()
@click.argument("application_id")
@click.option("--verify", is_flag=True, help="check the receipt against the chain alone")
@click.option("--rpc-url", envvar="MACHI_RPC_URL", default="http://127.0.0.1:8545", show_default=True,
              help="any node of the city's chain (env MACHI_RPC_URL)")
@click.option("--ledger", envvar="MACHI_LEDGER_ADDRESS", default=None,
              help="the ProcedureLedger address you trust (env MACHI_LEDGER_ADDRESS; default: the receipt's)")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="also save the receipt here")
@click.option("--file", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="verify a saved receipt instead of fetching it")
@pass_wallet
def receipt(wallet: WalletContext, application_id: str, verify: bool, rpc_url: str, ledger: str | None,
            out: Path | None, from_file: Path | None) -> None:
    """Fetch (or load) an application's receipt; --verify proves it against the chain."""
    if from_file is not None:
        document = json.loads(from_file.read_text(encoding="utf-8"))
    else:
        wallet.logged_in()
        document = wallet.api.request("GET", f"/v1/applications/{application_id}/receipt", auth=True)
    if out is not None:
        out.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    console = wallet.console
    events = document.get("events", [])
    if not verify:
        anchored = sum(1 for e in events if e.get("anchor"))
        console.print(f"receipt of {document.get('application_id')}: {len(events)} events, {anchored} anchored")
        return
    try:
        w3 = connect(rpc_url)
    except NodeError as exc:
        raise click.ClickException(f"cannot reach the chain at {rpc_url}: {exc}") from None
    if ledger is None:
        ledger = str(document.get("ledger"))
        console.print(f"[yellow]trusting the ledger address the receipt names ({ledger}); "
                      "pin it with --ledger / MACHI_LEDGER_ADDRESS[/]")
    try:
        check = verify_receipt(w3, ledger_client(w3, ledger), document)
    except NodeError as exc:
        raise click.ClickException(f"chain unreachable at {rpc_url}, nothing verified; try again: {exc}") from None
    except ValueError as exc:
        raise click.ClickException(f"not a receipt: {exc}") from None
    table = Table(title=f"Receipt of {check.application_id} (chain {check.chain_id}, ledger {ledger})")
    for column in ("#", "event", "result", "anchor", "detail"):
        table.add_column(column)
    for event in check.events:
        colour = {"verified": "green", "pending": "yellow"}.get(event.status, "red")
        table.add_row(str(event.seq), event.type, f"[{colour}]{event.status}[/]",
                      "" if event.anchor_id is None else str(event.anchor_id), event.reason or (event.signer or ""))
    console.print(table)
    for problem in check.problems:
        console.print(f"[red]problem:[/] {problem}")
    if check.pending:
        console.print(f"not anchored yet: {', '.join(f'#{e.seq} {e.type}' for e in check.pending)} "
                      "(check again in a minute)")
    if not check.ok:
        raise click.ClickException("the receipt does NOT verify against the chain")
    console.print(f"[green]verified[/]: {len(check.verified)} of {len(check.events)} events proven on chain")


COMMANDS = [procedures_, apply, applications, status, withdraw, respond, receipt]
