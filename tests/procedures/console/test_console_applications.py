"""Clerks work e-applications in the console, in a real browser against a live server."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from eth_account import Account

from chain.contracts.coin import RegionalCoinClient
from protocol.citytime import city_clock
from tests.procedures.applications.conftest import FORMS, Filer
from tests.procedures.conftest import wallet_login
from tests.procedures.console.conftest import console_login

WALLET_PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"applications_anchor_interval": 0.3, "applications_sweep_interval": 3600.0})


@pytest.fixture
def api(live_server):
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


class _Resident:
    def __init__(self, account, headers):
        self.account, self.headers = account, headers

    @property
    def address(self):
        return self.account.address


@pytest.fixture
def resident(api, arrange):
    account = Account.create()
    arrange.attest(account.address)
    return _Resident(account, wallet_login(api, account))


def _submit(api, w3, city, resident, code="childcare-benefit", form=None) -> str:
    filer = Filer(api, RegionalCoinClient(w3, city.coin.address, city.coin.abi))
    response = filer.submit(resident, code, form=form)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()["id"]


def _status(api, resident, application_id):
    return api.get(f"/v1/applications/{application_id}", headers=resident.headers).json()["status"]


def test_claim_then_approve_with_confirmation_pays_the_benefit(
    page, live_server, staff, api, resident, w3, city, arrange
):
    application_id = _submit(api, w3, city, resident)
    username, password = staff("kodomo1", department="child-welfare")
    console_login(page, live_server, username, password)
    page.goto(f"{live_server}/console/applications")
    row = page.locator(f"tr[data-id='{application_id}']")
    assert "受付" in row.inner_text()
    row.locator("button.claim").click()
    page.wait_for_url(f"**/console/applications/{application_id}?done=claimed")
    assert "審査中" in page.inner_text("#status")
    assert "加賀 花子" in page.inner_text("#form-data")  # the decrypted form, for the routed department
    submitted = api.get(f"/v1/applications/{application_id}", headers=resident.headers).json()["submitted_at"]
    assert city_clock().show(submitted).endswith(" JST")  # the city's zone, shown
    assert city_clock().show(submitted) in page.inner_text("main dl")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST", page.inner_text("#timeline"))
    page.click("#approve")
    assert "承認しますか" in page.inner_text("main h2")  # the confirmation step
    page.click("#confirm")
    page.wait_for_url(f"**/console/applications/{application_id}?done=approve")
    assert "承認" in page.inner_text("#status")
    assert _status(api, resident, application_id) == "approved"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and arrange.points(resident.address) == 0:
        time.sleep(0.1)
    assert arrange.points(resident.address) == 30_000  # the childcare benefit landed, as points
    deadline = time.monotonic() + 30  # the timeline shows anchoring once the anchorer has run
    while time.monotonic() < deadline:
        page.reload()
        if "記録済" in page.inner_text("#timeline"):
            break
        time.sleep(0.3)
    assert "記録済" in page.inner_text("#timeline")


def _wallet_cli(live_server, account, tmp_path, monkeypatch):
    """``machi-wallet`` (the real click command) against the live server, with the resident's keystore."""
    from click.testing import CliRunner

    from wallet.cli import main

    monkeypatch.setenv("MACHI_WALLET_PASSWORD", WALLET_PASSWORD)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    keystore = tmp_path / "keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, WALLET_PASSWORD, kdf="scrypt", iterations=1024)))

    def run(*args: str):
        return CliRunner().invoke(main, ["--api-url", live_server, "--keystore", str(keystore), *args],
                                  catch_exceptions=False)

    return run


def test_return_for_correction_then_resubmission_then_approval(
    page, live_server, staff, api, resident, w3, city, tmp_path, monkeypatch
):
    application_id = _submit(api, w3, city, resident)
    username, password = staff("kodomo2", department="child-welfare")
    console_login(page, live_server, username, password)
    page.goto(f"{live_server}/console/applications/{application_id}")
    page.click("#claim")
    page.fill("#return-reason", "続柄の確認書類を添付してください")
    page.click("#return")
    page.click("#confirm")
    page.wait_for_url("**?done=return")
    assert _status(api, resident, application_id) == "returned"
    # the resident answers from the wallet CLI: corrected form and the missing document, signed again
    form = tmp_path / "corrected.json"
    form.write_text(json.dumps(FORMS["childcare-benefit"], ensure_ascii=False), encoding="utf-8")
    document = tmp_path / "続柄.pdf"
    document.write_bytes(b"%PDF-1.7\n%%EOF\n")
    cli = _wallet_cli(live_server, resident.account, tmp_path, monkeypatch)
    responded = cli("respond", application_id, "--form", str(form), "--attach", str(document))
    assert responded.exit_code == 0, responded.output
    assert f"{application_id}: Resubmitted (revision 2)" in responded.output
    assert _status(api, resident, application_id) == "resubmitted"
    page.goto(f"{live_server}/console/applications?status=resubmitted")
    page.locator(f"tr[data-id='{application_id}'] button.claim").click()
    assert "続柄.pdf" in page.inner_text("main")  # the document the resident attached from the CLI
    page.click("#approve")
    page.click("#confirm")
    page.wait_for_url("**?done=approve")
    assert _status(api, resident, application_id) == "approved"


def test_a_clerk_of_another_department_cannot_open_the_application(page, live_server, staff, api, resident, w3, city):
    application_id = _submit(api, w3, city, resident)
    username, password = staff("doro1", department="road-maintenance")
    console_login(page, live_server, username, password)
    page.goto(f"{live_server}/console/applications/{application_id}")
    assert "権限がありません" in page.inner_text("#error-message")
    assert "加賀 花子" not in page.content()
    page.goto(f"{live_server}/console/applications")
    assert page.locator(f"tr[data-id='{application_id}']").count() == 0


RAW = ("child_name", "child_birth_date", "relationship", "lives_with_child", "True", "parent", "(none)", "(paid)",
       "child-welfare", "pending)")


def test_the_application_page_speaks_the_forms_words_in_japanese_and_english(
    page, live_server, staff, api, resident, w3, city, artifacts_dir
):
    """Labels and values from the form's JSON Schema, department names from the catalog's data, the
    money an approval pays: no raw key, value, status or department code in either language."""
    application_id = _submit(api, w3, city, resident)
    username, password = staff("kodomo3", department="child-welfare")
    console_login(page, live_server, username, password)
    page.goto(f"{live_server}/console/applications/{application_id}?lang=ja")
    page.click("#claim")
    page.wait_for_url("**?done=claimed")
    answers = page.inner_text("#form-data")
    for label, value in [("子の氏名", "加賀 花子"), ("子の生年月日", "2019-07-07"), ("子との続柄", "父母"),
                         ("子と同居している", "はい")]:
        assert re.search(rf"{label}\s+{value}", answers), answers
    main = page.inner_text("main")
    assert page.inner_text("#department") == "子育て支援課" and page.inner_text("#fee") == "なし"
    assert page.inner_text("#benefit") == "¥30,000（承認時に支給）"
    assert not [raw for raw in RAW if raw in main], main
    assert "子育て支援課" in page.inner_text("header")  # the clerk's own department, by name
    shots = artifacts_dir / "console"  # the README's pictures (docs/console-*.png) are taken from these
    page.screenshot(path=str(shots / "application-ja.png"), full_page=True)
    page.click("#approve")
    assert "給付金 ¥30,000 が申請者のウォレットに支払われます" in page.inner_text("#money-effect")
    page.screenshot(path=str(shots / "approve-confirmation-ja.png"),
                    clip={"x": 0, "y": 0, "width": 1280, "height": 320})
    page.click("text=キャンセル")

    page.goto(f"{live_server}/console/applications/{application_id}?lang=en")
    answers = page.inner_text("#form-data")
    for label, value in [("Child's full name", "加賀 花子"), ("Relationship to the child", "Parent"),
                         ("I live with the child", "Yes")]:
        assert re.search(rf"{re.escape(label)}\s+{value}", answers), answers
    main = page.inner_text("main")
    assert page.inner_text("#department") == "Child Welfare Division" and page.inner_text("#fee") == "None"
    assert page.inner_text("#benefit") == "¥30,000 (paid on approval)"
    assert not [raw for raw in RAW if raw in main], main
    page.click("#approve")
    assert "Approving pays the ¥30,000 benefit" in page.inner_text("#money-effect")

    page.goto(f"{live_server}/console/?lang=ja")  # the dashboard's department table, labelled
    panel = page.locator("section.card", has_text="処理中の申請")
    assert [h.strip() for h in panel.locator("th").all_inner_texts()] == ["部署", "処理中", "期限超過"]
    assert "子育て支援課" in panel.inner_text() and "child-welfare" not in panel.inner_text()
    page.screenshot(path=str(shots / "dashboard-ja.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 420})
    page.goto(f"{live_server}/console/applications?lang=ja")
    assert "子育て支援課" in page.locator(f"tr[data-id='{application_id}']").inner_text()
