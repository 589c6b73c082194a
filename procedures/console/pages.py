"""Shared page plumbing: templates, the logged-in staff member, CSRF checks, HTML errors."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from procedures.applications.catalog import CatalogError, catalog_for
from procedures.auth.models import StaffAccount
from procedures.console import sessions
from procedures.console.i18n import translator
from procedures.deps import SessionDep
from procedures.errors import NotAuthenticated, PermissionDenied

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
LOGIN_CSRF_COOKIE = "machi_login_csrf"


def lang_of(request: Request) -> str:
    """``?lang=`` wins, then the ``lang`` cookie, then Japanese."""
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "ja"
    return lang if lang in ("ja", "en") else "ja"


@dataclass
class ConsoleUser:
    """The staff member behind the browser."""

    account: StaffAccount
    session_row: sessions.ConsoleSession

    @property
    def csrf(self) -> str:
        return self.session_row.csrf_token

    @property
    def role(self) -> str:
        return self.account.role


class LoginRequired(NotAuthenticated):
    """No console session: the page redirects to the login form."""

    code = "login_required"


def current_user(request: Request, session: SessionDep) -> ConsoleUser:
    """The logged-in staff member.

    Raises:
        LoginRequired: no valid session cookie.
    """
    row = sessions.resolve(session, request.cookies.get(sessions.COOKIE))
    if row is None:
        raise LoginRequired("please log in")
    account = session.get(StaffAccount, row.staff_id)
    if account is None or not account.active:
        raise LoginRequired("please log in")
    return ConsoleUser(account, row)


UserDep = Annotated[ConsoleUser, Depends(current_user)]


def require_admin(user: UserDep) -> ConsoleUser:
    """Operator pages."""
    if user.role != "admin":
        raise PermissionDenied("administrators only", code="role_required")
    return user


AdminDep = Annotated[ConsoleUser, Depends(require_admin)]


async def check_csrf(request: Request, user: UserDep) -> dict[str, Any]:
    """The submitted form, after checking its CSRF token against the session's.

    Raises:
        PermissionDenied: missing or wrong token (code csrf_failed).
    """
    form = dict(await request.form())
    if not sessions.csrf_ok(user.session_row, form.get("csrf_token")):  # type: ignore[arg-type]
        raise PermissionDenied("the form's security token is missing or wrong; reload the page", code="csrf_failed")
    return form


FormDep = Annotated[dict[str, Any], Depends(check_csrf)]


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           user: ConsoleUser | None = None) -> HTMLResponse:
    """Render a page with the translator, language, user, the city's name and its clock (``when``, ``day``)."""
    lang = lang_of(request)
    settings = request.app.state.runtime.settings
    clock = settings.clock  # every time on a page: the city's zone, shown ("2026-04-01 09:30 JST")
    page = templates.TemplateResponse(
        request, name, {"t": translator(lang), "lang": lang, "user": user, "city": settings.city_name,
                        "when": clock.show, "day": clock.show_date,
                        "department_of": lambda code: department_name(settings, code, lang), **context},
        status_code=status,
    )
    if request.query_params.get("lang") in ("ja", "en"):
        page.set_cookie("lang", lang, max_age=365 * 86400, samesite="strict", httponly=True,
                        secure=secure_cookies(request))
    return page


def secure_cookies(request: Request) -> bool:
    """Whether the console's cookies get ``Secure``: always in production (a TLS-terminating proxy
    in front speaks plain HTTP to us), else when the request came over HTTPS — as told by the
    connection or a trusted proxy (``procedures.api.proxies``)."""
    return bool(request.app.state.settings.environment == "production" or request.url.scheme == "https")


def department_name(settings: Any, code: str | None, lang: str) -> str:
    """A department's name from the catalog's data (the code itself while the catalog cannot be read)."""
    try:
        return catalog_for(settings.applications_catalog_dir).department_name(code, lang)
    except CatalogError:
        return code or ""


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def render_error(request: Request, status: int, code: str, message: str) -> Response | None:
    """The console's error page for ``/console`` requests (a login redirect for 401), else None."""
    if not request.url.path.startswith("/console"):
        return None
    if status == 401:
        return RedirectResponse("/console/login", status_code=303)
    t = translator(lang_of(request))
    friendly = {403: t("forbidden"), 404: t("not_found")}.get(status, message)
    if code == "csrf_failed":
        friendly = t("csrf")
    elif code == "same_staff_member":
        friendly = t("four_eyes_same")
    return render(request, "error.html", {"status": status, "message": friendly, "code": code}, status=status)



def staff_by_username(session: Session, username: str) -> StaffAccount | None:
    from sqlalchemy import select

    return session.scalar(select(StaffAccount).where(StaffAccount.username == username))
