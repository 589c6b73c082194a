"""Console tests: staff accounts and the login step (``browser`` and ``page`` live in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff(runtime):
    """Factory: create a staff account, returns (username, password)."""
    from procedures.auth.service import create_staff

    def make(username: str, role: str = "clerk", department: str | None = "kosodate",
             password: str = "console pass 123") -> tuple[str, str]:
        with runtime.sessions() as session, session.begin():
            create_staff(session, runtime.vault, username=username, password=password, role=role,
                         department=department, display_name=username.title())
        return username, password

    return make


def console_login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
