"""``/town``: the public status page (Japanese first, ``?lang=en``, no login) and each report's history.

Open and recently fixed road damage, snow removal by district, as lists and as an SVG map drawn on the
city's outline; every entry links to its history (``/town/reports/{id}/history``), whose events anyone
can check against the ProcedureLedger anchors on chain.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import or_, select

from chain.storage import utcnow
from procedures.applications import service as applications
from procedures.civic import reports
from procedures.civic.maps import COLOURS, Dot, MapView
from procedures.civic.models import CivicReport, CivicStatus, Resolution
from procedures.deps import RuntimeDep, SessionDep
from protocol.citytime import CityClock

router = APIRouter(prefix="/town", tags=["town"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

TEXTS: dict[str, dict[str, str]] = {
    "title": {"ja": "まちの修繕・除雪状況", "en": "Repairs and snow removal in town"},
    "lead": {"ja": "市民のみなさんからの通報と、市の対応状況です。位置は約{grid}m四方の区画で示しています。",
             "en": "Reports from residents and what the city is doing about them. Locations are shown as "
                   "cells of about {grid} m."},
    "road": {"ja": "道路の損傷", "en": "Road damage"},
    "open": {"ja": "対応中・受付済み", "en": "Open"},
    "fixed": {"ja": "最近対応が完了したもの（{days}日以内）", "en": "Fixed in the last {days} days"},
    "snow": {"ja": "除雪の状況（地区別）", "en": "Snow removal by district"},
    "map": {"ja": "地図", "en": "Map"},
    "district": {"ja": "地区", "en": "District"},
    "service": {"ja": "種類", "en": "Service"},
    "status": {"ja": "状況", "en": "Status"},
    "reported": {"ja": "通報日時", "en": "Reported"},
    "updated": {"ja": "更新", "en": "Updated"},
    "history": {"ja": "記録を確認", "en": "Check the record"},
    "none": {"ja": "ありません", "en": "None"},
    "waiting": {"ja": "受付", "en": "Received"},
    "working": {"ja": "対応中", "en": "In progress"},
    "done": {"ja": "完了", "en": "Done"},
    "legend_submitted": {"ja": "受付", "en": "Received"},
    "legend_acknowledged": {"ja": "確認済み", "en": "Acknowledged"},
    "legend_in_progress": {"ja": "対応中", "en": "In progress"},
    "legend_closed": {"ja": "完了", "en": "Fixed"},
    "legend_snow": {"ja": "■ 除雪", "en": "■ Snow removal"},
    "verify": {"ja": "各記録は ProcedureLedger に固定されたマークル根で検証できます（通報者の情報は含みません）。",
               "en": "Every record can be checked against the Merkle roots anchored in ProcedureLedger "
                     "(no reporter is named)."},
    "other_lang": {"ja": "English", "en": "日本語"},
}


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang") or "ja"
    return lang if lang in ("ja", "en") else "ja"


def _entry(report: CivicReport, lang: str, title: str, district: str, clock: CityClock) -> dict[str, Any]:
    return {
        "id": report.id, "service": title, "district": district, "status": report.status,
        "note": reports.status_note(report, lang), "description": report.public_description,
        "requested": clock.show(report.requested_at),
        "updated": clock.show(report.updated_at),
        "history": f"/town/reports/{report.id}/history",
    }


@router.get("", response_class=HTMLResponse, summary="The town's status page")
def town_page(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """Open and recently fixed reports, snow removal by district, an SVG map (public, no login)."""
    settings = runtime.settings
    lang = _lang(request)
    town = reports.town_of(settings)
    catalog = applications.catalog(runtime)
    since = utcnow() - timedelta(days=settings.civic_recent_days)
    rows = list(session.scalars(select(CivicReport).where(
        CivicReport.listed.is_(True), CivicReport.service_code.in_(settings.civic_services),
        or_(CivicReport.status != CivicStatus.CLOSED,
            (CivicReport.resolution.in_((Resolution.FIXED, Resolution.DUPLICATE))) & (CivicReport.closed_at >= since)),
    ).order_by(CivicReport.requested_at.desc()).limit(reports.MAX_ROWS)))

    def title(code: str) -> str:
        procedure = catalog.find(code)
        return procedure.title[lang] if procedure else code

    entries = [_entry(r, lang, title(r.service_code), town.district_name(r.district, lang), settings.clock)
               for r in rows]
    road = [e for r, e in zip(rows, entries, strict=True) if r.service_code != "snow-removal"]
    snow_rows = [r for r in rows if r.service_code == "snow-removal"]
    districts = [(d.code, d.name[lang]) for d in town.districts]
    snow = []
    for code, name in [*districts, ("other", town.district_name("other", lang))]:
        mine = [r for r in snow_rows if r.district == code]
        if code == "other" and not mine:
            continue
        snow.append({"name": name, "waiting": sum(r.status in (CivicStatus.SUBMITTED, CivicStatus.ACKNOWLEDGED)
                                                  for r in mine),
                     "working": sum(r.status == CivicStatus.IN_PROGRESS for r in mine),
                     "done": sum(r.status == CivicStatus.CLOSED for r in mine)})
    view = MapView(town)
    dots = [Dot(*view.xy((r.cell_lat, r.cell_long)), COLOURS.get(r.status, "#555"), e["history"],
                f"{e['service']} · {e['district']} · {e['note']}", square=r.service_code == "snow-removal")
            for r, e in zip(rows, entries, strict=True)]
    t = {key: text[lang].format(grid=int(settings.civic_grid_m), days=settings.civic_recent_days)
         for key, text in TEXTS.items()}
    return templates.TemplateResponse(request, "town.html", {
        "lang": lang, "other_lang": "en" if lang == "ja" else "ja", "t": t, "town": town,
        "city": town.name[lang], "note": town.note[lang],
        "road_open": [e for e in road if e["status"] != CivicStatus.CLOSED],
        "road_fixed": [e for e in road if e["status"] == CivicStatus.CLOSED], "snow": snow,
        "view": view, "outline": view.path(town.outline), "districts": list(view.districts(lang)), "dots": dots,
        "colours": COLOURS,
    })


@router.get("/reports/{report_id}/history", summary="A public report's anchored history")
def report_history(report_id: str, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Every event with its leaf, Merkle proof and anchor (no reporter): check it against the chain."""
    return reports.public_history(session, runtime, reports.public_report(session, report_id))
