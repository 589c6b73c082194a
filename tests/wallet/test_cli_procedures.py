"""The resident's CLI end to end: apply for the childcare benefit, a clerk approves through the API, the
benefit lands in the wallet, and ``receipt --verify`` proves the history against the chain alone."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from eth_account import Account

from chain.contracts.registry import AssuranceLevel
from tests.procedures.applications.conftest import FORMS, PDF, correction_deadline, staff_post, wait_until
from tests.procedures.conftest import wallet_login

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cli(client, tmp_path, monkeypatch):
    """Run ``machi-wallet`` against the test service (its HTTP transport), with a cheap keystore."""
    import wallet.context
    from wallet.api import MachiApi
    from wallet.cli import main

    monkeypatch.setattr(wallet.context, "MachiApi",
                        lambda url: MachiApi(url, transport=client._transport))  # the TestClient's ASGI transport
    monkeypatch.setenv("MACHI_WALLET_PASSWORD", PASSWORD)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.setenv("COLUMNS", "200")  # rich tables unwrapped
    account = Account.create()
    keystore = tmp_path / "keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, PASSWORD, kdf="scrypt", iterations=1024)))
    runner = CliRunner()

    def run(*args, input=None):
        result = runner.invoke(main, ["--api-url", "http://testserver", "--keystore", str(keystore), *args],
                               input=input, catch_exceptions=False)
        return result

    run.account = account
    return run


def test_childcare_benefit_from_the_cli(cli, client, arrange, make_staff, anvil, city, tmp_path):
    arrange.attest(cli.account.address, AssuranceLevel.RESIDENT_OF_CITY)
    listed = cli("procedures")
    assert listed.exit_code == 0 and "childcare-benefit" in listed.output

    form = tmp_path / "childcare.json"
    form.write_text(json.dumps(FORMS["childcare-benefit"], ensure_ascii=False), encoding="utf-8")
    document = tmp_path / "boshi-techo.pdf"
    document.write_bytes(PDF)
    applied = cli("apply", "childcare-benefit", "--form", str(form), "--attach", str(document))
    assert applied.exit_code == 0, applied.output
    app_id = re.search(r"filed (ap_[0-9a-f]+)", applied.output).group(1)

    clerk = make_staff("clerk", "child-welfare")
    assert staff_post(client, clerk, app_id, "claim").status_code == 200
    assert staff_post(client, clerk, app_id, "approve").status_code == 200
    wait_until(lambda: arrange.points(cli.account.address) == 30_000, what="the benefit in the wallet (points)")

    headers = wallet_login(client, cli.account)

    def anchored():
        events = client.get(f"/v1/applications/{app_id}", headers=headers).json()["events"]
        return len(events) == 4 and all(e["anchored"] for e in events)

    wait_until(anchored, what="the receipt's anchors",
               show=lambda: client.get(f"/v1/applications/{app_id}/receipt", headers=headers).json())
    status = cli("status", app_id)
    assert status.exit_code == 0 and "— Approved" in status.output and "Benefit paid" in status.output
    saved = tmp_path / "receipt.json"
    verified = cli("receipt", app_id, "--verify", "--rpc-url", anvil.url, "--ledger",
                   city.ledger.address, "--out", str(saved))
    assert verified.exit_code == 0, verified.output
    assert "verified: 4 of 4 events" in verified.output

    # a doctored receipt (the benefit event's amount story rewritten) fails against the chain alone
    receipt = json.loads(saved.read_text(encoding="utf-8"))
    receipt["events"][2]["type"] = "rejected"
    receipt["events"][2]["to_status"] = "rejected"
    saved.write_text(json.dumps(receipt), encoding="utf-8")
    refused = cli("receipt", app_id, "--verify", "--file", str(saved), "--rpc-url", anvil.url,
                  "--ledger", city.ledger.address)
    assert refused.exit_code == 1 and "does NOT verify" in refused.output


def test_interactive_apply_respond_withdraw_and_a_fee(cli, client, arrange, make_staff, tmp_path, treasury):
    arrange.attest(cli.account.address, AssuranceLevel.RESIDENT_OF_CITY)
    arrange.mint(cli.account.address, 1_000)
    # prompts generated from the snow-removal schema: kind, lat, long, landmark (optional), depth, details
    answers = "\n".join(["elderly_household", "36.2466", "136.376", "", "80", ""]) + "\n"
    applied = cli("apply", "snow-removal", input=answers)
    assert applied.exit_code == 0, applied.output
    assert "Latitude" in applied.output and "Snow depth (cm)" in applied.output
    assert "elderly_household=Help for an elderly household" in applied.output  # each choice by its title
    app_id = re.search(r"filed (ap_[0-9a-f]+)", applied.output).group(1)

    clerk = make_staff("clerk", "road-maintenance")
    staff_post(client, clerk, app_id, "claim")
    staff_post(client, clerk, app_id, "return", reason="積雪の深さを再確認してください",
               correction_deadline=correction_deadline())
    status = cli("status", app_id)
    assert "correction requested" in status.output and "積雪の深さを再確認してください" in status.output

    corrected = tmp_path / "corrected.json"
    corrected.write_text(json.dumps({**FORMS["snow-removal"], "snow_depth_cm": 120}), encoding="utf-8")
    responded = cli("respond", app_id, "--form", str(corrected))
    assert responded.exit_code == 0 and "Resubmitted (revision 2)" in responded.output

    withdrawn = cli("withdraw", app_id, "--yes")
    assert withdrawn.exit_code == 0 and "Withdrawn" in withdrawn.output
    again = cli("withdraw", app_id, "--yes")
    assert again.exit_code == 1 and "cannot withdraw" in again.output

    certificate = tmp_path / "certificate.json"
    certificate.write_text(json.dumps(FORMS["residence-certificate"]), encoding="utf-8")  # 2 copies
    paid = cli("apply", "residence-certificate", "--form", str(certificate), "--yes")
    assert paid.exit_code == 0, paid.output
    assert "fee 600 coins" in paid.output
    wait_until(lambda: arrange.balance(treasury) == 600, what="the fee signed by the CLI")
    listing = cli("applications")
    assert app_id in listing.output and "Withdrawn" in listing.output and "600 (" in listing.output
