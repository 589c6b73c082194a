"""The clerk's part of the story: approving an application in the web console (a real browser), or —
where no browser is installed — through the clerk API, saying so.

A ``ClerkDesk`` is any callable ``(base_url, username, password, application_id) -> Approval``; the demo
launches Debian's Chromium through Playwright, the end-to-end test hands in its own page fixture.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.demo_tools import Api

__all__ = ["Approval", "ClerkDesk", "api_clerk", "approve_in_browser", "browser_clerk"]

#: Debian's Chromium and the flags the console browser tests launch it with (tests/procedures/console).
CHROMIUM = os.environ.get("MACHI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@dataclass(frozen=True)
class Approval:
    """How the approval was made, and the session secrets it used (for the log scan)."""

    how: str
    secrets: list[str] = field(default_factory=list)


ClerkDesk = Callable[[str, str, str, str], Approval]


def approve_in_browser(page: Any, base: str, username: str, password: str, application_id: str,
                       screenshot: Path | None = None) -> Approval:
    """Log in to ``/console``, open the application, claim it, approve it and confirm (Playwright ``page``)."""
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/console/login" not in url)
    page.goto(f"{base}/console/applications/{application_id}")
    if page.locator("#claim").count():
        page.click("#claim")
        page.wait_for_url(f"**/console/applications/{application_id}?done=claimed")
    page.click("#approve")
    page.click("#confirm")
    page.wait_for_url(f"**/console/applications/{application_id}?done=approve")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    cookies = [str(c["value"]) for c in page.context.cookies() if len(str(c.get("value", ""))) >= 16]
    return Approval("in the web console (Chromium)", cookies)


@contextmanager
def browser_clerk(screenshot: Path | None) -> Iterator[ClerkDesk | None]:
    """A desk that approves in Debian's Chromium; ``None`` when Chromium or Playwright is missing."""
    if not Path(CHROMIUM).exists():
        yield None
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield None
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            def desk(base: str, username: str, password: str, application_id: str) -> Approval:
                context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
                try:
                    page = context.new_page()
                    page.set_default_timeout(30_000)
                    return approve_in_browser(page, base, username, password, application_id, screenshot)
                finally:
                    context.close()

            yield desk
        finally:
            browser.close()


def api_clerk(base: str, username: str, password: str, application_id: str) -> Approval:
    """Claim and approve through ``/v1/clerk`` (what the console does, without a browser)."""
    api = Api(base)
    try:
        token = api.staff_token(username, password)
        api.call("POST", f"/v1/clerk/applications/{application_id}/claim", token=token)
        api.call("POST", f"/v1/clerk/applications/{application_id}/approve", token=token, json={})
    finally:
        api.close()
    return Approval("through the clerk API (no Chromium here: `make browser` installs it)", [token])
