"""Operator page for the Payment Services Act report (資金決済法): the unused balance at a base date and the
deposit it requires, through the same ``procedures.settlement.prepaid`` as ``GET /v1/admin/reports/prepaid``
and ``machi report prepaid``; the CSV to file."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from procedures.console.pages import AdminDep, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import ServiceError
from procedures.settlement import prepaid

router = APIRouter(prefix="/prepaid")

#: Base dates offered in the page's list (the latest first).
LISTED = 6


@router.get("", response_class=HTMLResponse)
def prepaid_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
                 base_date: date | None = None, as_of: datetime | None = None) -> Response:
    """The report for the chosen base date (default the latest) or an interim figure at ``as_of``, or why it
    cannot be made now."""
    dates = prepaid.recent_base_dates(runtime.settings.clock.today(), LISTED)
    report, problem = None, None
    try:
        report = prepaid.report_for(session, runtime, base_date, as_of)
    except ServiceError as exc:  # before the chain, index behind: said on the page, not as an error page
        problem = str(exc)
    return render(request, "prepaid.html", {"report": report, "problem": problem, "dates": dates,
                                            "chosen": (base_date or dates[0]).isoformat(),
                                            "headings": prepaid.CSV_HEADINGS}, user=user)


@router.get(".csv")
def prepaid_csv(session: SessionDep, runtime: RuntimeDep, _: AdminDep, base_date: date | None = None,
                as_of: datetime | None = None) -> Response:
    """The report as the CSV to file (Japanese headings, field names, figures)."""
    report = prepaid.report_for(session, runtime, base_date, as_of)
    name = prepaid.csv_filename(report)
    return Response(prepaid.to_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
