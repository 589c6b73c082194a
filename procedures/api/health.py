"""Operational endpoints: health and metrics.

Anonymous ``/healthz`` says only up or down (200 ``{"status": "ok"}`` / 503 ``{"status":
"down"}``) — its details once showed the relayer's last error with the RPC URL and its
credential. The details and ``/metrics`` need the monitoring token (``MACHI_METRICS_TOKEN``,
bearer) or an admin's token; every error text in them goes through ``chain.scrub``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text

from chain.deploy import check_code
from chain.scrub import scrub
from procedures.addresses import checksum
from procedures.errors import NotAuthenticated, PermissionDenied
from procedures.role_keys import key_table
from procedures.runtime import Runtime

router = APIRouter(tags=["operations"])

#: Whether a request may see the operational details (raising 401/403 for bad credentials).
#: ``procedures.app`` installs ``procedures.auth.deps.operations_access``: ``api/`` sits below the
#: rooms and imports none of them.
OperationsAccess = Callable[[Request], str | None]


def install(app: FastAPI, access: OperationsAccess) -> None:
    """Mount ``/healthz`` and ``/metrics`` on ``app``, their details guarded by ``access``."""
    app.state.operations_access = access
    app.include_router(router)


def _access(request: Request) -> str | None:
    """``"monitoring"``, ``"admin"`` or ``None`` (no details), the caller's token resolved once."""
    access: OperationsAccess = request.app.state.operations_access
    return access(request)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/healthz", summary="Up or down; the details for the monitoring token or an admin")
def healthz(request: Request) -> JSONResponse:
    """Green only when the database answers, the chain answers and every contract has code."""
    runtime = _runtime(request)
    access = _access(request)
    report, healthy = health_report(runtime)
    if access is None:
        return JSONResponse({"status": "ok" if healthy else "down"}, status_code=200 if healthy else 503)
    if report["chain"]["ok"] and access == "admin":  # the role table: admins only
        try:
            report["keys"] = key_table(runtime)
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            report["keys"] = {"ok": False, "error": type(exc).__name__}
    report["status"] = "ok" if healthy else "degraded"
    return JSONResponse(report, status_code=200 if healthy else 503)


def health_report(runtime: Runtime) -> tuple[dict[str, Any], bool]:
    """The detailed health report (database, chain, contracts, workers; error texts scrubbed) and
    whether everything is up."""
    report: dict[str, Any] = {}
    healthy = True
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        report["database"] = {"ok": True, "backend": runtime.engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        healthy = False
        report["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        w3 = runtime.w3
        report["chain"] = {"ok": True, "chain_id": w3.eth.chain_id, "block_number": w3.eth.block_number,
                           "rpc": "external" if runtime.settings.external_rpc else "embedded"}
    except Exception as exc:  # noqa: BLE001
        healthy = False
        report["chain"] = {"ok": False, "error": scrub(str(exc).split(":")[0])}
        w3 = None
    if w3 is not None:
        try:
            manifest = runtime.manifest
            missing = set(check_code(w3, manifest))
            report["contracts"] = {
                "ok": not missing,
                "deployed": {name: {"address": checksum(c.address), "code_present": name not in missing}
                             for name, c in manifest.contracts.items()},
            }
            healthy &= not missing
        except Exception as exc:  # noqa: BLE001
            healthy = False
            report["contracts"] = {"ok": False, "error": scrub(str(exc))}
    else:
        report["contracts"] = {"ok": False, "error": "chain unreachable"}
    report["workers"] = {"relayers": [{"sender": r.sender, "lock_held": r.lock.held, "last_error": r.stats.last_error}
                                      for r in runtime.relayers]}  # last_error: chain.scrub.describe
    return report, healthy


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Request latency, outbox depth and age, relayer confirmation lag (Prometheus text format)."""
    if _access(request) is None:
        if request.headers.get("authorization"):
            raise PermissionDenied("metrics need the metrics token or the role admin", code="role_required")
        raise NotAuthenticated("metrics need 'Authorization: Bearer <MACHI_METRICS_TOKEN>' or an admin's token")
    app_metrics = request.app.state.metrics
    body = generate_latest(app_metrics.registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
