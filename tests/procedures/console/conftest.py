"""Browser tests: the app served by a real uvicorn on a free port, driven by Debian's Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MACHI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, artifacts_dir: Path, request) -> Iterator[object]:
    """A fresh browser context per test; a screenshot is saved under test-artifacts/ at the end."""
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    try:
        pg.screenshot(path=str(artifacts_dir / "screenshots" / f"{name}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def staff(runtime):
    """Factory: create a staff account, returns (username, password)."""
    from procedures.auth.service import create_staff

    def make(username: str, role: str = "clerk", department: str | None = "kosodate",
             password: str = "console pass 123") -> tuple[str, str]:
        with runtime.sessions() as session, session.begin():
            create_staff(session, runtime.vault, username=username, password=password, role=role,
                         department=department if role == "clerk" else department, display_name=username.title())
        return username, password

    return make


def console_login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
