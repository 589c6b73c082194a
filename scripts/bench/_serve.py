"""The service for the payments benchmark: ``procedures.app.create_app()`` under uvicorn, with the
worker-thread pool sized by ``BENCH_THREADS`` (default 128 instead of anyio's 40).

Why: every sync endpoint and dependency hop takes one of those threads. On SQLite a request's
``BEGIN IMMEDIATE`` waits for the write lock *inside* a thread, while the request holding the
lock needs a free thread for its next hop (endpoint, commit) — with more concurrent requests than
threads, the service stalls until SQLite's 30 s busy timeout. The service now sizes its own pool
(``MACHI_API_THREADS``, 128 by default); this wrapper lets the benchmark vary it independently.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import uvicorn

from procedures.app import create_app


def main(port: int) -> None:
    app = create_app()
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(instance: Any) -> AsyncIterator[Any]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(os.environ.get("BENCH_THREADS", "128"))
        async with inner(instance) as state:
            yield state

    app.router.lifespan_context = lifespan
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(int(sys.argv[1]))
