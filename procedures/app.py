"""The FastAPI application factory."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from procedures import wiring
from procedures.api import health
from procedures.api.guard import BodyLimit, RequestGuard
from procedures.api.proxies import TrustedProxies
from procedures.applications import routes as application_routes
from procedures.auth import routes as auth_routes
from procedures.auth.deps import install_token_resolvers, operations_access
from procedures.cardpay import routes as cardpay_routes
from procedures.civic import clerk_routes as civic_clerk_routes
from procedures.civic import routes as civic_routes
from procedures.civic import town_routes
from procedures.config import Settings, get_settings
from procedures.console import applications as console_applications
from procedures.console import civic as console_civic
from procedures.console import operator as console_operator
from procedures.console import routes as console_routes
from procedures.console.pages import HERE as CONSOLE_DIR
from procedures.console.pages import render_error as console_error_page
from procedures.errors import API_ERRORS, register_exception_handlers
from procedures.history import routes as history_routes
from procedures.identity import routes as identity_routes
from procedures.merchants import checkout_routes
from procedures.merchants import routes as merchant_routes
from procedures.metrics import Metrics
from procedures.offline import routes as offline_routes
from procedures.operator import routes as operator_routes
from procedures.runtime import Runtime
from procedures.settlement import routes as settlement_routes
from procedures.transfers import routes as transfer_routes

CONSOLE_STATIC = CONSOLE_DIR / "static"
#: The routes that carry attachments (base64 in JSON) and may take larger bodies.
APPLICATION_BODIES = re.compile(r"^/v1/applications(/[^/]+/resubmit)?$")
#: The routes whose bodies are JSON only (the console under /console takes forms).
JSON_ROUTES = re.compile(r"^/v1/")


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, workers: bool | None = None
) -> FastAPI:
    """Build the app.

    Args:
        settings: configuration (default: from the environment).
        runtime: an existing runtime to share (tests pass one); created from settings otherwise.
        workers: start the relayer workers with the app (default: ``settings.run_workers``).
    """
    settings = settings or get_settings()
    runtime = wiring.wire(runtime or Runtime.create(settings))
    start_workers = settings.run_workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's thread pool (40 threads by default). On SQLite a request
        # waiting for the write lock holds its thread; with more waiters than threads the holder
        # could not get a thread back to commit. More threads than the pool of DB connections
        # keeps the holder runnable; past that, SQLite's busy timeout answers 503 (see errors).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        try:
            runtime.run_startup_hooks()
        except Exception:  # noqa: BLE001 - the API still serves reads; /healthz shows what is wrong
            logging.getLogger("machi.app").exception("start-up hooks failed; will retry on next start")
        if start_workers:
            runtime.start_workers()
        try:
            yield
        finally:
            runtime.stop_workers()

    app = FastAPI(
        title="Machi Ledger",
        summary=f"Procedures and the regional currency of {settings.city_name}",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.metrics = Metrics(runtime.sessions)
    install_token_resolvers(app, wiring.token_resolvers())
    register_exception_handlers(app, pages=[console_error_page, civic_routes.open311_error])

    app.add_middleware(
        RequestGuard,
        default_max_bytes=settings.max_body_bytes,
        limits=[BodyLimit(APPLICATION_BODIES, settings.max_application_body_bytes),
                BodyLimit(civic_routes.BODIES, civic_routes.MAX_POST_BYTES, shape=civic_routes.open311_shape),
                BodyLimit(civic_routes.ALL, settings.max_body_bytes, shape=civic_routes.open311_shape)],
        json_paths=JSON_ROUTES,
    )
    app.add_middleware(_ObserveLatency, metrics=app.state.metrics)
    app.add_middleware(TrustedProxies, trusted=settings.trusted_proxies)  # outermost: all see the client

    health.install(app, operations_access)
    app.include_router(auth_routes.router, responses=API_ERRORS)
    identity_routes.install(app)
    app.include_router(transfer_routes.router, responses=API_ERRORS)
    app.include_router(history_routes.router, responses=API_ERRORS)
    app.include_router(merchant_routes.router, responses=API_ERRORS)
    app.include_router(checkout_routes.router, responses=API_ERRORS)
    app.include_router(settlement_routes.router, responses=API_ERRORS)
    app.include_router(cardpay_routes.router, responses=API_ERRORS)
    app.include_router(offline_routes.router, responses=API_ERRORS)
    app.include_router(operator_routes.router, responses=API_ERRORS)
    app.include_router(application_routes.router, responses=API_ERRORS)
    app.include_router(civic_routes.router)
    app.include_router(civic_clerk_routes.router, responses=API_ERRORS)
    app.include_router(town_routes.router, responses=API_ERRORS)
    app.include_router(console_routes.router)
    app.include_router(console_applications.router)
    app.include_router(console_civic.router)
    app.include_router(console_operator.router)
    app.mount("/console/static", StaticFiles(directory=str(CONSOLE_STATIC)), name="console-static")
    return app


class _ObserveLatency:
    """Request latency by method, route template and status, as a plain ASGI middleware.

    (``@app.middleware("http")`` would wrap every request in Starlette's ``BaseHTTPMiddleware``:
    an extra task and memory stream per request, a measurable share of a payment's CPU.)
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_latency.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )
