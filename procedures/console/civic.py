"""The road and snow departments' map: their civic reports at their exact points on the city's outline,
with review, status changes and merges — through ``procedures.civic.clerks`` with the logged-in staff
member as the principal, so the API's rules and its audit of personal-data reads apply here too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from procedures.applications import service as applications
from procedures.applications.models import Application
from procedures.civic import clerks, reports
from procedures.civic.maps import COLOURS, Dot, MapView
from procedures.civic.models import CivicStatus
from procedures.console.applications import principal_of
from procedures.console.pages import FormDep, UserDep, lang_of, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import InvalidRequest

router = APIRouter(prefix="/console/civic", include_in_schema=False)

#: The page's own words (the console's shared ones come from ``t``).
WORDS: dict[str, dict[str, str]] = {
    "title": {"ja": "市民通報の地図", "en": "Civic reports map"},
    "lead": {"ja": "担当部署の通報を正確な位置で表示します（市民向けの /town では約100m単位に丸めています）。",
             "en": "Your department's reports at their exact points (the public /town rounds them to ~100 m)."},
    "report": {"ja": "通報", "en": "Report"},
    "service": {"ja": "種類", "en": "Service"},
    "district": {"ja": "地区", "en": "District"},
    "verified": {"ja": "本人確認済", "en": "Linked resident"},
    "public": {"ja": "公開", "en": "Public"},
    "description": {"ja": "説明（非公開の原文）", "en": "Description (private original)"},
    "publish": {"ja": "公開する説明", "en": "Description to publish"},
    "photo_public": {"ja": "写真を公開（顔・ナンバー確認済み）", "en": "Publish photos (checked for faces and plates)"},
    "review": {"ja": "公開設定を保存", "en": "Save publication"},
    "change": {"ja": "状況を変更", "en": "Change status"},
    "reason": {"ja": "理由・メモ", "en": "Reason / note"},
    "merge": {"ja": "重複として統合", "en": "Merge as duplicate of"},
    "done": {"ja": "保存しました", "en": "Saved"},
    "acknowledged": {"ja": "確認済みにする", "en": "Acknowledge"},
    "in_progress": {"ja": "対応中にする", "en": "Start work"},
    "fixed": {"ja": "完了（修繕済み）", "en": "Close: fixed"},
    "not_actionable": {"ja": "対象外として終了", "en": "Close: not actionable"},
    "st_submitted": {"ja": "受付", "en": "Received"},
    "st_acknowledged": {"ja": "確認済み", "en": "Acknowledged"},
    "st_in_progress": {"ja": "対応中", "en": "In progress"},
    "st_closed": {"ja": "完了", "en": "Closed"},
    "duplicate_of": {"ja": "重複 →", "en": "duplicate of"},
    "none": {"ja": "通報はありません", "en": "No reports"},
}


@router.get("", response_class=HTMLResponse)
def map_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: UserDep) -> Response:
    principal = principal_of(user)
    lang = lang_of(request)
    status = request.query_params.get("status") or None
    rows = clerks.clerk_reports(session, principal, status=status, limit=300)
    town = reports.town_of(runtime.settings)
    view = MapView(town, width=720)
    catalog = applications.catalog(runtime)
    items: list[dict[str, Any]] = []
    dots = []
    for report in rows:
        application = session.get(Application, report.application_id)
        if application is not None:
            applications.audit_read(session, principal, application, "form")
        form = clerks.exact_form(session, runtime, report) or {}
        procedure = catalog.find(report.service_code)
        point = (float(form["lat"]), float(form["long"])) if "lat" in form else (report.cell_lat, report.cell_long)
        x, y = view.xy(point)
        items.append({"report": report, "title": procedure.title[lang] if procedure else report.service_code,
                      "district": town.district_name(report.district, lang), "description": form.get("description"),
                      "point": point})
        dots.append(Dot(x, y, COLOURS.get(report.status, "#555"), f"#r-{report.id}", f"{report.id} {report.status}",
                        square=report.service_code == "snow-removal"))
    words = {key: text[lang] for key, text in WORDS.items()}
    return render(request, "civic_map.html", {
        "w": words, "items": items, "dots": dots, "view": view, "outline": view.path(town.outline),
        "districts": list(view.districts(lang)), "colours": COLOURS, "status": status,
        "statuses": [s.value for s in CivicStatus], "done": request.query_params.get("done"),
    }, user=user)


def _back(done: str) -> Response:
    return RedirectResponse(f"/console/civic?done={done}", status_code=303)


@router.post("/{report_id}/review")
def review(report_id: str, session: SessionDep, runtime: RuntimeDep, user: UserDep, form: FormDep) -> Response:
    clerks.review(session, runtime, principal_of(user), report_id, listed=form.get("listed") == "on",
                  description=str(form.get("description") or "") or None, photo_public=form.get("photo_public") == "on")
    return _back("review")


@router.post("/{report_id}/status")
def change_status(report_id: str, session: SessionDep, runtime: RuntimeDep, user: UserDep,
                  form: FormDep) -> Response:
    principal = principal_of(user)
    clerks.clerk_report(session, principal, report_id)  # the department's report, before judging the form
    action = str(form.get("action") or "")
    target = {"acknowledged": ("acknowledged", None), "in_progress": ("in_progress", None),
              "fixed": ("closed", "fixed"), "not_actionable": ("closed", "not_actionable")}.get(action)
    if target is None:
        raise InvalidRequest("choose acknowledged, in_progress, fixed or not_actionable", param="action")
    clerks.change_status(session, runtime, principal, report_id, status=target[0], resolution=target[1],
                         reason=str(form.get("reason") or "") or None)
    return _back("status")


@router.post("/{report_id}/merge")
def merge(report_id: str, session: SessionDep, runtime: RuntimeDep, user: UserDep, form: FormDep) -> Response:
    principal = principal_of(user)
    clerks.clerk_report(session, principal, report_id)  # the department's report, before judging the form
    into = str(form.get("into") or "").strip()
    if not into:
        raise InvalidRequest("name the report to merge into", param="into")
    clerks.merge(session, runtime, principal, report_id, into)
    return _back("merge")
