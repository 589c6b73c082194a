"""Prometheus metrics: request latency, outbox depth, confirmation lag.

The relayer's own metrics (confirmation lag, transactions sent) live in the process-wide
default registry (``chain.relayer``); ``/metrics`` serves both registries.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chain.outbox import IntentStatus, TxIntent
from chain.storage import utcnow


class OutboxCollector(Collector):
    """Reads outbox depth and the age of the oldest unconfirmed intent at scrape time."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("machi_outbox_depth", "Intents not yet final, by status", labels=["status"])
        lag = GaugeMetricFamily("machi_outbox_oldest_pending_seconds", "Age of the oldest intent not yet final")
        try:
            with self.sessions() as session:
                rows = session.execute(
                    select(TxIntent.status, func.count(), func.min(TxIntent.created_at))
                    .where(TxIntent.status.in_([IntentStatus.QUEUED, IntentStatus.PENDING]))
                    .group_by(TxIntent.status)
                ).all()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the DB blinked
            return
        counts = {str(status): count for status, count, _ in rows}
        oldest = [created for *_, created in rows if created is not None]
        for status in (IntentStatus.QUEUED, IntentStatus.PENDING):
            depth.add_metric([str(status)], counts.get(str(status), 0))
        lag.add_metric([], (utcnow() - min(oldest)).total_seconds() if oldest else 0.0)
        yield depth
        yield lag


class Metrics:
    """The metrics of one app instance (own registry, so tests can build many apps)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "machi_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(OutboxCollector(sessions))
