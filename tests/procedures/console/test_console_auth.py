"""Console login, logout, CSRF and language in a real browser (and over plain HTTP)."""

from __future__ import annotations

import httpx

from tests.procedures.console.conftest import console_login


def test_login_with_the_right_password_shows_the_dashboard(page, live_server, staff):
    username, password = staff("sato")
    console_login(page, live_server, username, password)
    page.wait_for_url(f"{live_server}/console/")
    assert page.inner_text("#whoami") == "Sato"
    assert page.locator("html").get_attribute("lang") == "ja"
    assert "ダッシュボード" in page.inner_text("main h2")


def test_login_with_a_wrong_password_stays_on_the_form_with_a_message(page, live_server, staff):
    username, _ = staff("suzuki")
    console_login(page, live_server, username, "not the password")
    assert "パスワードが違います" in page.inner_text("#login-error")
    assert page.url.endswith("/console/login")
    cookies = {c["name"] for c in page.context.cookies()}
    assert "machi_console" not in cookies


def test_english_toggle_and_logout(page, live_server, staff):
    username, password = staff("ito", role="admin", department=None)
    console_login(page, live_server, username, password)
    page.wait_for_url(f"{live_server}/console/")
    page.click("text=English")
    assert "Dashboard" in page.inner_text("main h2")
    assert page.locator("nav >> text=Counter top-ups").count() == 1  # admins see operator pages
    page.click("text=Log out")
    page.wait_for_url(f"{live_server}/console/login")
    page.goto(f"{live_server}/console/")
    assert page.url.endswith("/console/login")  # the session is gone


def test_clerks_do_not_see_operator_navigation(page, live_server, staff):
    username, password = staff("kato")
    console_login(page, live_server, username, password)
    page.wait_for_url(f"{live_server}/console/")
    assert page.locator("nav >> text=窓口チャージ").count() == 0


def test_csrf_token_is_required(live_server, staff):
    username, password = staff("yamada")
    with httpx.Client(base_url=live_server, follow_redirects=False) as client:
        # Without the login form's token the login is refused, even with the right password.
        refused = client.post("/console/login", data={"username": username, "password": password})
        assert refused.status_code == 403 and "machi_console" not in refused.cookies
        form = client.get("/console/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        ok = client.post("/console/login", data={"username": username, "password": password, "csrf_token": token})
        assert ok.status_code == 303
        # Logged in, a state-changing POST without the session's token is refused with a page, not JSON.
        forged = client.post("/console/logout", data={})
        assert forged.status_code == 403 and "text/html" in forged.headers["content-type"]
        assert client.get("/console/").status_code == 200  # still logged in


def test_console_requires_login(live_server):
    response = httpx.get(f"{live_server}/console/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/login"


def test_the_login_page_names_the_city_and_has_a_favicon(page, live_server, settings):
    failed: list[str] = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.goto(f"{live_server}/console/login")
    assert page.inner_text("#city-name") == settings.city_name == "加賀市"
    icon = page.locator("link[rel=icon]").get_attribute("href")
    fetched = httpx.get(f"{live_server}{icon}")
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("image/svg+xml")
    page.reload()
    assert failed == []  # no 404 for a favicon (or anything else) on the way
