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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from eth_account.signers.local import LocalAccount
from rich.markup import escape

from chain.errors import NodeError
from chain.rpc import connect
from protocol import applications as protocol
from protocol.forms import choices, field_title
from protocol.receipts import ledger_client, verify_receipt
from wallet.api import WalletError
from wallet.commands.identity import level_name, show_status
from wallet.context import WalletContext, pass_wallet
from wallet.help import LocalizedCommand
from wallet.i18n import Texts

__all__ = ["COMMANDS"]

SIGNATURE_TTL_S = 600
FEE_AUTHORIZATION_TTL_S = 1800


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
def _load_form(wallet: WalletContext, path: Path) -> dict[str, Any]:
    try:
        form = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WalletError.of("form_unreadable", path=path, problem=exc) from None
    if not isinstance(form, dict):
        raise WalletError.of("form_not_object", path=path)
    return form


def prompt_form(schema: dict[str, Any], texts: Texts) -> dict[str, Any]:
    """Ask for every field of a form schema (object of scalars, nested objects and arrays of objects)."""
    answers: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        label = field_title(prop, texts.lang, name)
        value = _prompt_value(prop, label, name in required, texts)
        if value is not None:
            answers[name] = value
    return answers


def _prompt_value(prop: dict[str, Any], label: str, required: bool, texts: Texts) -> Any:
    kind = prop.get("type")
    suffix = "" if required else texts("optional")
    if "const" in prop and isinstance(prop["const"], bool):
        if not click.confirm(label + suffix, default=False) and prop["const"]:
            raise WalletError.of("field_required", label=label)
        return prop["const"]
    if kind == "boolean":
        return click.confirm(label + suffix, default=bool(prop.get("default", False)))
    if kind == "object":
        click.echo(f"— {label}")
        return prompt_form(prop, texts)
    if kind == "array":
        item = prop.get("items") or {}
        count = click.prompt(texts("field_how_many", label=label),
                             type=click.IntRange(prop.get("minItems", 0), prop.get("maxItems", 50)))
        return [_prompt_value(item, f"{label} #{i + 1}", True, texts) for i in range(count)]
    options = choices(prop, texts.lang)
    if options:  # the values with their titles: "子との続柄 (parent=父母, guardian=未成年後見人, …)"
        listed = ", ".join(f"{value}={title}" if str(value) != title else str(value) for value, title in options)
        by_text = {str(value): value for value, _ in options}
        choice = click.prompt(f"{label} ({listed}){suffix}", type=click.Choice(list(by_text)),
                              default=None if required else "", show_default=False, show_choices=False)
        return by_text[choice] if choice else None
    if kind in ("integer", "number"):
        raw = click.prompt(label + suffix, default="" if not required else None, show_default=False)
        if raw == "":
            return None
        try:
            return int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise WalletError.of("field_not_number", label=label) from None
    hint = texts("field_date_hint") if prop.get("format") == "date" else ""
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
@click.command("procedures", cls=LocalizedCommand)
@pass_wallet
def procedures_(wallet: WalletContext) -> None:
    """List the procedures you can file."""
    t = wallet.t
    catalog = wallet.api.request("GET", "/v1/procedures")["data"]
    table = wallet.table(t("procedures_title"))
    for column in (t("col_code"), t("procedure"), t("fee"), t("benefit"), t("level")):
        table.add_column(column)
    for entry in catalog:
        fee = f"{entry['fee']}" + (f" × {entry['fee_per']}" if entry.get("fee_per") else "")
        table.add_row(entry["code"], _title(entry["title"], wallet.lang), fee, str(entry["benefit"]),
                      level_name(wallet, entry["assurance_level"]))
    wallet.console.print(table)


@click.command(cls=LocalizedCommand)
@click.argument("code")
@click.option("--form", "form_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="answers as a JSON file (default: prompt for each field)")
@click.option("--attach", "attach", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a file to attach (repeatable)")
@click.option("--yes", is_flag=True, help="do not ask before paying a fee")
@pass_wallet
def apply(wallet: WalletContext, code: str, form_path: Path | None, attach: tuple[Path, ...], yes: bool) -> None:
    """File an application for procedure CODE, signed by your wallet."""
    t = wallet.t
    procedure = wallet.api.request("GET", f"/v1/procedures/{code}")
    form = _load_form(wallet, form_path) if form_path else prompt_form(procedure["form"], t)
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
            click.confirm(t("confirm_fee", fee=fee), abort=True)
        body["payment"] = _fee_authorization(wallet, account, fee)
    application = wallet.api.request("POST", "/v1/applications", json=body, auth=True)
    wallet.console.print(t("filed", id=application["id"], title=escape(_title(procedure["title"], wallet.lang)),
                           status=t.term("st", application["status"])) + (t("filed_fee", fee=fee) if fee else ""))


def _fee_authorization(wallet: WalletContext, account: LocalAccount, amount: int) -> dict[str, Any]:
    signing = wallet.api.request("GET", "/v1/procedures/signing")
    if not signing.get("treasury"):
        raise WalletError.of("treasury_not_ready")
    # relayed when a clerk approves, maybe never: a one-off nonce, so it holds up none of the wallet's payments
    return wallet.transfer_authorization(account, signing["treasury"], amount, FEE_AUTHORIZATION_TTL_S,
                                         sequenced=False)


def _money(wallet: WalletContext, amount: int, status: str) -> str:
    return f"{amount} ({wallet.t.term('fs', status)})" if amount else "-"


@click.command(cls=LocalizedCommand)
@click.option("--status", "status_", default=None, help="only applications in this status")
@pass_wallet
def applications(wallet: WalletContext, status_: str | None) -> None:
    """List your applications, newest first."""
    t = wallet.t
    wallet.logged_in()
    params: dict[str, Any] = {"limit": 100}
    if status_:
        params["status"] = status_
    rows = wallet.api.request("GET", "/v1/applications", params=params, auth=True)["data"]
    table = wallet.table(t("my_applications"))
    for column in (t("application"), t("procedure"), t("status"), t("fee"), t("benefit"), t("submitted")):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"], _title(row["procedure"]["title"], wallet.lang) or row["procedure"]["code"],
                      t.term("st", row["status"]), _money(wallet, row["fee"], row["fee_status"]),
                      _money(wallet, row["benefit"], row["benefit_status"]),
                      wallet.clock.show(row["submitted_at"]))
    wallet.console.print(table)


@click.command(cls=LocalizedCommand)
@click.argument("application_id", required=False)
@pass_wallet
def status(wallet: WalletContext, application_id: str | None) -> None:
    """Show one application: status, correction request or decision, history (no id: identity and a pending
    recovery)."""
    if application_id is None:
        show_status(wallet)
        return
    t = wallet.t
    wallet.logged_in()
    app = wallet.api.request("GET", f"/v1/applications/{application_id}", auth=True)
    console = wallet.console
    console.print(f"[bold]{app['id']}[/] {escape(_title(app['procedure']['title'], wallet.lang))} — "
                  f"[bold]{t.term('st', app['status'])}[/]")
    if app["fee"]:
        wallet.say("app_fee", fee=app["fee"], status=t.term("fs", app["fee_status"]))
    if app["benefit"]:
        wallet.say("app_benefit", benefit=app["benefit"], status=t.term("fs", app["benefit_status"]))
    if app.get("correction") and app["status"] == "returned":
        console.print(t("correction_until", deadline=wallet.clock.show(app["correction"]["deadline"]),
                        reason=escape(app["correction"]["reason"])))
        wallet.say("answer_with", id=app["id"])
    if app.get("decision"):
        reason = app["decision"].get("reason")
        console.print(escape(t("decision", status=t.term("st", app["decision"]["status"]))
                             + (f" — {reason}" if reason else "")))
    table = wallet.table(t("timeline"))
    for column in ("#", t("event"), t("status"), t("when"), t("col_anchored")):
        table.add_column(column)
    for event in app["events"]:
        before = t.term("st", event["from_status"]) if event["from_status"] else "-"
        table.add_row(str(event["seq"]), t.term("ev", event["type"]), f"{before} → {t.term('st', event['to_status'])}",
                      wallet.clock.show(event["occurred_at"], seconds=True),
                      t("anchor_n", anchor=event["anchor_id"]) if event["anchored"] else t("not_anchored"))
    console.print(table)


@click.command(cls=LocalizedCommand)
@click.argument("application_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@pass_wallet
def withdraw(wallet: WalletContext, application_id: str, yes: bool) -> None:
    """Withdraw an application (取下げ) before it is decided."""
    t = wallet.t
    if not yes:
        click.confirm(t("confirm_withdraw", id=application_id), abort=True)
    account = wallet.logged_in()
    body = {"signature": _sign_act(wallet, account, "withdraw", application_id, protocol.ZERO_HASH)}
    app = wallet.api.request("POST", f"/v1/applications/{application_id}/withdraw", json=body, auth=True)
    wallet.say("application_status", id=app["id"], status=t.term("st", app["status"]))


@click.command(cls=LocalizedCommand)
@click.argument("application_id")
@click.option("--form", "form_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the corrected answers (JSON)")
@click.option("--attach", "attach", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="replace the files with these (repeatable); without it the current files are kept")
@pass_wallet
def respond(wallet: WalletContext, application_id: str, form_path: Path, attach: tuple[Path, ...]) -> None:
    """Answer a correction request (補正) with corrected answers, signed again."""
    form = _load_form(wallet, form_path)
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
    wallet.say("resubmitted", id=app["id"], status=wallet.t.term("st", app["status"]), revision=app["revision"])


@click.command(cls=LocalizedCommand)
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
    t = wallet.t
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
        wallet.say("receipt_summary", id=document.get("application_id"), events=len(events), anchored=anchored)
        return
    try:
        w3 = connect(rpc_url)
    except NodeError as exc:
        raise WalletError.of("chain_unreachable", url=rpc_url, problem=exc) from None
    if ledger is None:
        ledger = str(document.get("ledger"))
        wallet.say("trusting_ledger", ledger=ledger)
    try:
        check = verify_receipt(w3, ledger_client(w3, ledger), document)
    except NodeError as exc:
        raise WalletError.of("chain_lost", url=rpc_url, problem=exc) from None
    except ValueError as exc:
        raise WalletError.of("not_a_receipt", problem=exc) from None
    table = wallet.table(t("receipt_title", id=check.application_id, chain=check.chain_id, ledger=ledger))
    for column in ("#", t("event"), t("when"), t("col_result"), t("col_anchor"), t("col_detail")):
        table.add_column(column)
    times = {e.get("seq"): e.get("occurred_at") for e in events}
    for event in check.events:
        occurred = times.get(event.seq)
        colour = {"verified": "green", "pending": "yellow"}.get(event.status, "red")
        table.add_row(str(event.seq), t.term("ev", event.type),
                      wallet.clock.show(datetime.fromtimestamp(occurred, UTC)) if isinstance(occurred, int) else "",
                      f"[{colour}]{t.term('rc', event.status)}[/]",
                      "" if event.anchor_id is None else str(event.anchor_id),
                      escape(event.reason or (event.signer or "")))
    console.print(table)
    for problem in check.problems:
        wallet.say("problem", problem=problem)
    if check.pending:
        wallet.say("receipt_pending", events=", ".join(f"#{e.seq} {t.term('ev', e.type)}" for e in check.pending))
    if not check.ok:
        raise WalletError.of("receipt_refused")
    wallet.say("receipt_verified", verified=len(check.verified), events=len(check.events))


COMMANDS = [procedures_, apply, applications, status, withdraw, respond, receipt]
