"""/town in Chromium: Japanese first with the English toggle, no login; open and fixed road damage, snow
removal by district, an SVG map drawn from the reports' cells on the city's outline, links to histories."""

from __future__ import annotations

import json

import httpx

from procedures import ratelimit
from tests.procedures.civic.conftest import pothole
from tests.procedures.conftest import wallet_login

#: Reports around town: (service, lat, long, kind, final status).
AROUND_TOWN = [
    ("road-damage", 36.3027, 136.3146, "pothole", "submitted"),
    ("road-damage", 36.2870, 136.3590, "crack", "in_progress"),
    ("road-damage", 36.3480, 136.3900, "guardrail", "fixed"),
    ("road-damage", 36.3360, 136.3050, "sign", "acknowledged"),
    ("snow-removal", 36.2466, 136.3760, "elderly_household", "in_progress"),
    ("snow-removal", 36.3200, 136.3500, "school_route", "submitted"),
    ("snow-removal", 36.2900, 136.3700, "road", "fixed"),
]


def _populate(base: str, resident_headers: dict[str, str], clerk_headers: dict[str, str]) -> list[str]:
    ids = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for service, lat, long, kind, final in AROUND_TOWN:
            fields = pothole(None, service_code=service, lat=str(lat), long=str(long),
                             **{"attribute[service_code]": kind})
            if service == "snow-removal":
                fields.pop("attribute[hazard]")
                fields["attribute[snow_depth_cm]"] = "60"
            ratelimit.reset()  # one resident files them all here; the burst limit is tested elsewhere
            posted = http.post("/open311/v2/requests.json", data=fields, headers=resident_headers)
            assert posted.status_code == 201, posted.text
            request_id = posted.json()[0]["service_request_id"]
            ids.append(request_id)
            steps = {"submitted": [], "acknowledged": ["acknowledged"], "in_progress": ["in_progress"],
                     "fixed": ["in_progress", "closed"]}[final]
            for step in steps:
                body = {"status": step, **({"resolution": "fixed"} if step == "closed" else {})}
                changed = http.post(f"/v1/clerk/civic/reports/{request_id}/status", json=body, headers=clerk_headers)
                assert changed.status_code == 200, changed.text
            if final == "fixed" and service == "road-damage":
                reviewed = http.post(f"/v1/clerk/civic/reports/{request_id}/review", headers=clerk_headers,
                                     json={"listed": True, "description": "ガードレールの破損を修理しました"})
                assert reviewed.status_code == 200, reviewed.text
    return ids


def test_the_town_page_in_chromium(live_server, page, make_staff, arrange, artifacts_dir):
    from eth_account import Account

    from chain.contracts.registry import AssuranceLevel

    resident = Account.create()
    arrange.attest(resident.address, AssuranceLevel.RESIDENT_OF_CITY)
    clerk = make_staff("clerk", "road-maintenance")
    ids = _populate(live_server, wallet_login(live_server, resident), clerk.headers)

    page.goto(f"{live_server}/town")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert "加賀市" in page.locator("h1").inner_text() and "除雪" in page.locator("h1").inner_text()
    assert page.locator("#road-open tbody tr").count() == 3
    assert page.locator("#road-fixed tbody tr").count() == 1
    assert "ガードレールの破損を修理しました" in page.locator("#road-fixed").inner_text()
    snow = page.locator("#snow").inner_text()
    assert "山中" in snow and "動橋" in snow
    assert page.locator("#town-map .dot").count() == len(AROUND_TOWN)
    assert page.locator("#town-map rect.dot").count() == 3  # snow removal drawn as squares
    page.screenshot(path=str(artifacts_dir / "screenshots" / "town.png"), full_page=True)

    page.click("#lang-toggle")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Repairs and snow removal" in page.locator("h1").inner_text()
    assert "Yamanaka" in page.locator("#snow").inner_text()

    # each entry links to its history, checkable against the chain, naming no reporter
    first = page.locator("#road-open tbody tr").first
    request_id = first.get_attribute("data-id")
    assert request_id in ids
    first.locator("a").click()
    history = json.loads(page.locator("body").inner_text())
    assert history["service_request_id"] == request_id and history["events"][0]["type"] == "reported"
    assert resident.address.lower() not in json.dumps(history).lower()
