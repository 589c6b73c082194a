"""``machi-pos`` at the counter against a real service: the cashier charges (a real ``machi-pos`` process
showing the QR code and waiting), the resident pays it with a real ``machi-wallet pay``, the receipt is
printed (and its PDF written); a refund; the day's statement; a request nobody pays is canceled; a bad key
is one clear line — and the key never appears in anything the program prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from chain.toolchain import PROJECT_ROOT
from pos.cli import main as pos_cli
from pos.context import PosContext
from pos.counter import wait_paid
from tests.procedures.merchants.conftest import create_request, pay, wait_request
from wallet.cli import main as wallet_cli

BIN = Path(sys.executable).parent


def pos_env(server: str, key: str, lang: str = "en") -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MACHI_")}, "MACHI_API_URL": server,
            "MACHI_POS_API_KEY": key, "MACHI_POS_LANG": lang, "COLUMNS": "120"}


def pos(server: str, key: str, *args: str, lang: str = "en", input: str | None = None):
    """``machi-pos ARGS`` in-process (Click's runner), the key in the environment."""
    return CliRunner().invoke(pos_cli, list(args), input=input, env=pos_env(server, key, lang))


def start_charge(server: str, key: str, *args: str, lang: str = "en") -> tuple[subprocess.Popen[str], list[str]]:
    """A real ``machi-pos charge ARGS`` process; returns it once it printed the payment URI (and the lines so far)."""
    process = subprocess.Popen([str(BIN / "machi-pos"), "charge", *args], cwd=PROJECT_ROOT,
                               env=pos_env(server, key, lang), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("URI: "):
            return process, lines
    pytest.fail(f"machi-pos printed no URI: {lines} {process.stderr.read() if process.stderr else ''}")


def finish(process: subprocess.Popen[str], lines: list[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, "\n".join(lines) + "\n" + out, err


def test_charge_paid_with_machi_wallet_then_receipt_refund_and_statement(server, client, onboard, wallet_home,
                                                                          arrange, tmp_path):
    keystore, address = wallet_home
    merchant = onboard("加賀棒茶本舗")
    receipt_pdf = tmp_path / "receipt.pdf"
    process, lines = start_charge(server, merchant.key, "1200", "-d", "加賀棒茶 2本", "--pdf", str(receipt_pdf))
    uri = lines[-1].removeprefix("URI: ")
    assert "▀" in "\n".join(lines) and "payment of ¥1,200" in "\n".join(lines)  # the QR code, drawn

    paid = CliRunner().invoke(wallet_cli, ["--api-url", server, "--keystore", str(keystore), "pay", uri, "--yes"])
    assert paid.exit_code == 0, paid.output
    code, out, err = finish(process, lines)
    assert code == 0, err
    request_id = uri.split("req=")[1]
    assert "paid: ¥1,200" in out and "RECEIPT" in out and request_id in out and address in out
    assert "加賀棒茶本舗" in out and "加賀棒茶 2本" in out
    assert receipt_pdf.read_bytes().startswith(b"%PDF-1.4")
    assert arrange.balance(merchant.wallet) == 1_200

    again = pos(server, merchant.key, "receipt", request_id, lang="ja")
    assert again.exit_code == 0 and "領収書" in again.output and "1,200 円" in again.output

    refunded = pos(server, merchant.key, "refund", request_id, "--amount", "200", "--reason", "1本 破損", "--yes")
    assert refunded.exit_code == 0, refunded.output
    assert "refunded ¥200" in refunded.output
    assert arrange.balance(address) == 10_000 - 1_200 + 200

    day = pos(server, merchant.key, "statement", "--csv", str(tmp_path / "day.csv"))
    assert day.exit_code == 0, day.output
    assert "1 payment(s): ¥1,200" in day.output and "1 refund(s): ¥200" in day.output and "net: ¥1,000" in day.output
    assert request_id in day.output and (tmp_path / "day.csv").read_text(encoding="utf-8-sig").startswith("type,id")
    in_japanese = pos(server, merchant.key, "statement", lang="ja")
    assert "売上 1 件: 1,200 円" in in_japanese.output and "差引: 1,000 円" in in_japanese.output

    too_much = pos(server, merchant.key, "refund", request_id, "--amount", "5000", "--yes")
    assert too_much.exit_code == 1 and "Traceback" not in too_much.output
    assert too_much.output.startswith("Error: ") and "[refund_exceeds_payment]" in too_much.output
    for output in (out, err, again.output, refunded.output, day.output):
        assert merchant.key not in output


def test_a_request_nobody_pays_is_canceled_when_the_wait_ends(server, client, onboard):
    merchant = onboard()
    started = time.monotonic()
    process, lines = start_charge(server, merchant.key, "500", "--timeout", "5", "--no-qr")
    code, out, err = finish(process, lines)
    assert code == 1 and "not paid within 5 s; the request was canceled" in err, (out, err)
    assert time.monotonic() - started >= 5
    request_id = lines[-1].split("req=")[1]
    assert client.get(f"/v1/payment_requests/{request_id}", headers=merchant.headers).json()["status"] == "canceled"


def test_a_payment_in_flight_when_the_wait_ends_is_still_waited_for(server, client, onboard, make_resident, arrange,
                                                                    coin, monkeypatch):
    """The cashier's timeout never cancels a request a resident is already paying."""
    merchant = onboard()
    resident = make_resident(coins=1_000)
    pr = create_request(client, merchant, 300)
    assert pay(client, coin, resident, pr).status_code == 202
    monkeypatch.setenv("MACHI_POS_API_KEY", merchant.key)
    state = wait_paid(PosContext(api_url=server, key_file=None, lang="en"), pr, timeout_s=0)
    assert state["status"] == "paid" and state["payer"] == resident.address
    assert wait_request(client, merchant, pr["id"], "paid")["amount"] == 300


def test_bad_keys_are_one_clear_line_and_never_echoed(server, tmp_path):
    wrong = "mk_test_" + "x" * 32
    result = pos(server, wrong, "whoami", lang="ja")
    assert result.exit_code == 1 and result.output == "エラー: API キーが正しくありません [invalid_api_key]\n"
    assert wrong not in result.output
    english = pos(server, wrong, "whoami")
    assert english.exit_code == 1 and english.output.startswith("Error: ") and "[invalid_api_key]" in english.output
    not_a_key = pos(server, "hunter2hunter2", "whoami")
    assert not_a_key.exit_code == 1 and "not a merchant API key" in not_a_key.output
    assert "hunter2" not in not_a_key.output
    missing = CliRunner().invoke(pos_cli, ["--key-file", str(tmp_path / "none.txt"), "whoami"],
                                 env={"MACHI_POS_LANG": "en"})
    assert missing.exit_code == 1 and "cannot read the API key file" in missing.output
    down = pos("http://127.0.0.1:9", wrong, "whoami")
    assert down.exit_code == 1 and "cannot reach the Machi Ledger service" in down.output


def test_the_key_from_a_file_or_asked_hidden(server, onboard, tmp_path):
    merchant = onboard("山中漆器店")
    key_file = tmp_path / "pos.key"
    key_file.write_text(merchant.key + "\n", encoding="utf-8")
    from_file = CliRunner().invoke(pos_cli, ["--api-url", server, "--key-file", str(key_file), "--lang", "en",
                                             "whoami"], env={"MACHI_POS_API_KEY": ""})
    assert from_file.exit_code == 0 and f"merchant: 山中漆器店 ({merchant.id})" in from_file.output
    asked = CliRunner().invoke(pos_cli, ["--api-url", server, "--lang", "en", "whoami"], input=merchant.key + "\n",
                               env={"MACHI_POS_API_KEY": "", "MACHI_POS_KEY_FILE": ""})
    assert asked.exit_code == 0 and "山中漆器店" in asked.output and merchant.key not in asked.output
