"""The road department's map in the console (Chromium): exact points on the outline, a report
acknowledged, released and merged from the page, and the public view following at once."""

from __future__ import annotations

import httpx

from procedures import ratelimit
from procedures.auth.service import create_staff
from procedures.civic.models import CivicReport
from tests.procedures.civic.conftest import pothole
from tests.procedures.console.conftest import console_login


def _post(base: str, fields: dict[str, str]) -> str:
    ratelimit.reset()
    posted = httpx.post(f"{base}/open311/v2/requests.json", data=fields, timeout=30)
    assert posted.status_code == 201, posted.text
    return str(posted.json()[0]["token"])


def _public(base: str, token: str) -> dict:
    [row] = httpx.get(f"{base}/open311/v2/tokens/{token}.json", timeout=30).json()
    if row["service_request_id"] is None:
        return {}
    [one] = httpx.get(f"{base}/open311/v2/requests/{row['service_request_id']}.json", timeout=30).json()
    return dict(one)


def test_the_department_works_its_reports_on_the_map(live_server, page, runtime, api_key, artifacts_dir):
    with runtime.sessions() as session, session.begin():
        create_staff(session, runtime.vault, username="douro", password="console pass 123", role="clerk",
                     department="road-maintenance", display_name="Douro")
    first = _post(live_server, pothole(api_key))
    second = _post(live_server, pothole(api_key, lat="36.3029", long="136.3149", description="同じ穴だと思います"))
    assert _public(live_server, first) == {}  # an app's report waits for review

    console_login(page, live_server, "douro", "console pass 123")
    page.click("#nav-civic")
    assert page.locator("#civic-map .dot").count() == 2
    assert page.locator("#civic-reports tbody tr").count() == 2
    assert "36.30270, 136.31460" in page.locator("#civic-reports").inner_text()  # clerks see the exact point
    page.screenshot(path=str(artifacts_dir / "screenshots" / "console-civic-map.png"), full_page=True)

    rows = page.locator("#civic-reports tbody tr")
    newest, oldest = rows.nth(0).get_attribute("data-id"), rows.nth(1).get_attribute("data-id")
    assert newest and oldest and newest != oldest

    # release the older one with an edited description, acknowledge it, merge the newer one into it
    older = page.locator(f"#r-{oldest}")
    older.locator(".civic-review textarea").fill("大聖寺駅前の路面の穴")
    older.locator(".civic-review input[name=listed]").check()
    older.locator(".civic-review button").click()
    page.locator(f"#r-{oldest} .civic-status select").select_option("acknowledged")
    page.locator(f"#r-{oldest} .civic-status button").click()
    page.locator(f"#r-{newest} .civic-merge input[name=into]").fill(oldest)
    page.locator(f"#r-{newest} .civic-merge button").click()
    assert page.locator("[role=status]").count() == 1

    views = [v for v in (_public(live_server, t) for t in (first, second)) if v]
    assert [v["service_request_id"] for v in views] == [oldest]  # the unreviewed duplicate stays private
    assert views[0]["description"] == "大聖寺駅前の路面の穴" and views[0]["detailed_status"] == "acknowledged"

    page.locator(f"#r-{oldest} .civic-status select").select_option("fixed")
    page.locator(f"#r-{oldest} .civic-status button").click()
    assert page.locator(f"#r-{oldest} .civic-status").count() == 0  # closed: nothing left to change
    [closed] = [v for v in (_public(live_server, t) for t in (first, second)) if v]
    assert (closed["status"], closed["resolution"]) == ("closed", "fixed")
    with runtime.sessions() as session:
        duplicate = session.get(CivicReport, newest)
        assert (duplicate.merged_into, duplicate.status, duplicate.resolution) == (oldest, "closed", "duplicate")
