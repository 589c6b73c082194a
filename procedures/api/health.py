"""Operational endpoints: health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text

from chain.deploy import check_code
from procedures.addresses import checksum
from procedures.runtime import Runtime

router = APIRouter(tags=["operations"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/healthz", summary="Health of the database, the chain and the contracts")
def healthz(request: Request) -> JSONResponse:
    """Green only when the database answers, the chain answers and every contract has code."""
    runtime = _runtime(request)
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
        report["chain"] = {"ok": False, "error": str(exc).split(":")[0]}
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
            report["contracts"] = {"ok": False, "error": str(exc)}
    else:
        report["contracts"] = {"ok": False, "error": "chain unreachable"}
    report["workers"] = {"relayers": [{"sender": r.sender, "lock_held": r.lock.held, "last_error": r.stats.last_error}
                                      for r in runtime.relayers]}
    report["status"] = "ok" if healthy else "degraded"
    return JSONResponse(report, status_code=200 if healthy else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Request latency, outbox depth and age, relayer confirmation lag (Prometheus text format)."""
    app_metrics = request.app.state.metrics
    body = generate_latest(app_metrics.registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
