"""Prometheus metrics of the daemon (prometheus-client, one registry per daemon).

Counters are fed as polls finish; delivery counts and last-success times are read from
the database at scrape time, so they are right even just after a restart. Every sample
carries a `node` label, the daemon's node name: several daemons share one database, and
the database's gauges are then the cluster's, seen by each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from watcher.model import PollResult
from watcher.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StoreCollector:
    """Gauges read from the database when Prometheus scrapes."""

    def __init__(self, store: Store, heartbeat_age: Callable[[], float]) -> None:
        self.store = store
        self.heartbeat_age = heartbeat_age

    def collect(self) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "regwatch_deliveries",
            "Alert deliveries by channel and status",
            labels=["channel", "status"],
        )
        for (channel, status), n in self.store.delivery_counts().items():
            deliveries.add_metric([channel, status], n)
        yield deliveries
        success = GaugeMetricFamily(
            "regwatch_last_success_timestamp_seconds",
            "Unix time of the last successful poll of each source",
            labels=["source"],
        )
        failing = GaugeMetricFamily(
            "regwatch_source_failures", "Consecutive failed polls of each source", labels=["source"]
        )
        for r in self.store.poll_states():
            if r["last_success_at"]:
                stamp = datetime.fromisoformat(r["last_success_at"]).timestamp()
                success.add_metric([r["name"]], stamp)
            failing.add_metric([r["name"]], r["failures"])
        yield success
        yield failing
        yield GaugeMetricFamily(
            "regwatch_heartbeat_age_seconds",
            "Seconds since the scheduler's heartbeat job last ran",
            value=self.heartbeat_age(),
        )


class _Labelled:
    """Every metric of a registry with one more label (node=...)."""

    def __init__(self, inner: CollectorRegistry, name: str, value: str) -> None:
        self.inner = inner
        self.name = name
        self.value = value

    def collect(self) -> Iterator[Metric]:
        for metric in self.inner.collect():
            out = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            out.samples = [
                s._replace(labels={self.name: self.value, **s.labels}) for s in metric.samples
            ]
            yield out


class Metrics:
    """The daemon's metrics; `record_poll` after each poll, `render` for /metrics."""

    def __init__(self, store: Store, heartbeat_age: Callable[[], float], node: str = "") -> None:
        self.registry = CollectorRegistry()
        self.exposed = CollectorRegistry()
        self.exposed.register(_Labelled(self.registry, "node", node))
        r = self.registry
        self.polls = Counter(
            "regwatch_polls", "Polls by source and outcome", ["source", "status"], registry=r
        )
        self.errors = Counter(
            "regwatch_poll_errors", "Failed polls by source", ["source"], registry=r
        )
        self.items = Counter(
            "regwatch_items", "New items stored, by source", ["source"], registry=r
        )
        self.hits = Counter("regwatch_hits", "New hits stored, by source", ["source"], registry=r)
        self.fetch_bytes = Counter(
            "regwatch_fetch_bytes", "Response body bytes fetched, by source", ["source"], registry=r
        )
        self.poll_seconds = Histogram(
            "regwatch_poll_duration_seconds",
            "Time one poll took (fetch, parse, match, store)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        r.register(_StoreCollector(store, heartbeat_age))

    def record_poll(self, result: PollResult) -> None:
        """Count one finished poll."""
        self.polls.labels(result.source, result.status).inc()
        if result.error:
            self.errors.labels(result.source).inc()
        self.items.labels(result.source).inc(result.new_items)
        self.hits.labels(result.source).inc(len(result.hits))
        self.fetch_bytes.labels(result.source).inc(result.bytes)
        self.poll_seconds.observe(result.seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.exposed)
