"""Operator pages in a real browser: a counter top-up with its premium shown before confirming."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from eth_account import Account

from tests.procedures.conftest import wait_until
from tests.procedures.console.conftest import console_login
from tests.procedures.console.operations_support import Console


def _refused_to_a_clerk(live_server, staff, username: str, path: str) -> None:
    clerk = Console(live_server, *staff(username))
    try:
        assert clerk.get(path).status_code == 403
    finally:
        clerk.close()


def test_operator_top_up_shows_the_premium_then_credits_it(page, live_server, staff, arrange):
    resident = Account.create()
    arrange.attest(resident.address)
    username, password = staff("kaikei", role="admin", department=None)
    console_login(page, live_server, username, password)
    page.goto(f"{live_server}/console/admin/topups")
    page.fill("#wallet", resident.address)
    page.fill("#amount", "10000")
    page.fill("#reference", f"SLIP-{int(time.time())}")
    page.click("#preview")
    assert "1,000" in page.inner_text("#bonus")  # the 10 % campaign premium in points, before confirming
    assert "¥10,000" in page.inner_text("#total")  # the coins: the yen paid
    assert arrange.balance(resident.address) == 0  # nothing happens until the operator confirms
    page.click("#confirm")
    page.wait_for_url("**/console/admin/topups/*")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (arrange.balance(resident.address), arrange.points(resident.address)) != (
            10_000, 1_000):
        time.sleep(0.1)
    assert (arrange.balance(resident.address), arrange.points(resident.address)) == (10_000, 1_000)
    deadline = time.monotonic() + 30  # the receipt turns confirmed once the relayer has seen the receipt
    while time.monotonic() < deadline and "confirmed" not in page.inner_text("#topup-status"):
        time.sleep(0.2)
        page.reload()
    assert "confirmed" in page.inner_text("#topup-status")


def test_top_up_refuses_an_unverified_wallet_with_a_message(page, live_server, staff):
    username, password = staff("kaikei2", role="admin", department=None)
    console_login(page, live_server, username, password)
    page.goto(f"{live_server}/console/admin/topups")
    page.fill("#wallet", Account.create().address)
    page.fill("#amount", "5000")
    page.fill("#reference", "SLIP-X1")
    page.click("#preview")
    assert page.locator("#not-verified").count() == 1
    page.click("#confirm")
    assert "only a verified resident" in page.inner_text("#error-message")


def test_clerks_cannot_open_operator_pages(live_server, staff):
    username, password = staff("kakari")
    with httpx.Client(base_url=live_server, follow_redirects=False) as client:
        form = client.get("/console/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/console/login", data={"username": username, "password": password, "csrf_token": token})
        assert client.get("/console/admin/topups").status_code == 403


def test_the_prepaid_report_page_lists_base_dates_and_says_why_one_cannot_be_made(live_server, staff):
    client = Console(live_server, *staff("keiri", role="admin", department=None))
    try:
        page = client.get("/console/admin/prepaid", params={"base_date": "2000-03-31"})
        assert page.status_code == 200 and 'id="nav-prepaid"' in page.text
        assert '<option value="2000-03-31"' not in page.text and 'value="' in page.text.split('id="base_date"')[1]
        # the test chain began today: that base date is before it, said on the page instead of figures
        assert 'id="prepaid-problem"' in page.text and "chain starts after" in page.text
        assert 'id="prepaid-figures"' not in page.text
        assert client.get("/console/admin/prepaid", params={"base_date": "2026-06-30"}).status_code == 200
        now = datetime.now(UTC).isoformat()  # an interim figure: the table and its CSV link
        interim = wait_until(lambda: (lambda page: page if 'id="prepaid-figures"' in page.text else None)(
            client.get("/console/admin/prepaid", params={"as_of": now})), 30, what="the index reaching now")
        assert 'data-field="required_deposit"' in interim.text and 'id="prepaid-problem"' not in interim.text
        link = interim.text.split('id="prepaid-csv"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        csv_file = client.get(link)
        assert csv_file.status_code == 200 and csv_file.text.startswith("基準日,集計時点")
        not_a_date = client.get("/console/admin/prepaid.csv", params={"base_date": "30/09/2026"})
        assert not_a_date.status_code == 422
    finally:
        client.close()
    _refused_to_a_clerk(live_server, staff, "kakari2", "/console/admin/prepaid")


def test_the_points_page_shows_the_campaign_the_benefits_and_the_fund(live_server, staff, runtime, settings,
                                                                     make_resident):
    admin = staff("pointo", role="admin", department=None)
    client = Console(live_server, *admin)
    try:
        before = client.get("/console/admin/points")
        assert before.status_code == 200 and 'id="nav-points"' in before.text
        assert "10 %" in before.text.split('id="campaign-rate"')[1][:40]
        # the childcare benefit, credited as points for the city's default 180 days
        row = before.text.split('data-code="childcare-benefit"')[1].split("</tr>")[0]
        assert "30,000 pt" in row and "180" in row
        # a top-up's premium: the campaign has given it, the fund backs it on chain
        from procedures.settlement import topups
        from procedures.settlement.models import TopUp

        with runtime.sessions() as session:
            granted = topups.granted_bonus(session)
        with runtime.sessions() as session, session.begin():
            topup = topups.create_topup(session, runtime, wallet=make_resident().address, amount=8_000,
                                        channel="counter", location=None, reference="SLIP-POINTS-PAGE",
                                        operator="pointo")
            topup_id = topup.id

        def credited() -> bool:
            with runtime.sessions() as session:
                return session.get(TopUp, topup_id).points_status == "credited"

        wait_until(credited, 30, what="the premium credited")
        page = client.get("/console/admin/points").text
        assert f">{granted + 800:,} pt<" in page.split('id="campaign-granted"')[1][:40]
        fund = runtime.coin.points_fund()
        assert fund.reserved >= 800 and f"¥{fund.reserved:,}" in page.split('id="fund-reserved"')[1][:40]
    finally:
        client.close()
    _refused_to_a_clerk(live_server, staff, "kakari3", "/console/admin/points")
