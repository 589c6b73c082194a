"""Console pages: login, logout, dashboard. Domain pages live in their own modules."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from procedures.auth import service as auth
from procedures.console import panels, sessions
from procedures.console.i18n import translator
from procedures.console.pages import (
    LOGIN_CSRF_COOKIE,
    FormDep,
    UserDep,
    lang_of,
    new_login_csrf,
    render,
    secure_cookies,
)
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import NotAuthenticated, RateLimited
from procedures.ratelimit import client_address, limit
from procedures.transfers.models import Transfer

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    token = new_login_csrf()
    page = render(request, "login.html", {"csrf_token": token, "error": None})
    page.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/console",
                    secure=secure_cookies(request))
    return page


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, session: SessionDep, username: str = Form(max_length=64),
          password: str = Form(max_length=256), csrf_token: str = Form("")) -> Response:
    t = translator(lang_of(request))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not csrf_token or expected != csrf_token:
        token = new_login_csrf()
        page = render(request, "login.html", {"csrf_token": token, "error": t("csrf")}, status=403)
        page.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/console",
                    secure=secure_cookies(request))
        return page
    limit(request, "console-login", per_minute=20)
    try:
        account = auth.authenticate_staff(session, username, password, client_address(request))
    except (NotAuthenticated, RateLimited) as exc:
        session.commit()  # keep the failure count
        message = t("locked") if isinstance(exc, RateLimited) else t("bad_login")
        status = 429 if isinstance(exc, RateLimited) else 401
        return render(request, "login.html", {"csrf_token": csrf_token, "error": message, "username": username},
                      status=status)
    cookie, _ = sessions.start(session, account.id)
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(sessions.COOKIE, cookie, httponly=True, samesite="strict", path="/console",
                        secure=secure_cookies(request), max_age=int(sessions.LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: UserDep, form: FormDep) -> Response:
    sessions.end(session, request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/console")
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, runtime: RuntimeDep, user: UserDep) -> Response:
    clock = runtime.settings.clock
    start = clock.start_of_day(clock.today())  # "today" is the city's day
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Transfer.amount), 0))
        .where(Transfer.status == "confirmed", Transfer.kind == "payment", Transfer.created_at >= start)
    ).one()
    return render(request, "dashboard.html", {
        "payments_count": count, "payments_total": total,
        "panels": panels.panels(session, runtime, user, lang_of(request)),
        "notices": auth.take_notices(session, user.account.id)}, user=user)
