"""Prometheus metrics: requests, jobs, queue, workers, cache bytes, sweeps.

Each app gets its own registry so several apps (tests, instances) never share counters.
"""

from __future__ import annotations

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

EXTENSION_KEY = "mediacache.metrics"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The app's metric objects; views and jobs report through it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mediacache_http_requests_total", "HTTP requests by route and status.",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "mediacache_http_request_duration_seconds", "HTTP request latency by route.",
            ["method", "route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.jobs = Counter("mediacache_jobs_total", "Finished jobs by outcome.", ["outcome"], registry=self.registry)
        self.job_duration = Histogram(
            "mediacache_job_duration_seconds", "Job wall time by outcome.", ["outcome"], registry=self.registry,
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
        )  # fmt: skip
        self.sweeps = Counter("mediacache_sweep_runs_total", "Periodic job runs.", ["job"], registry=self.registry)
        self.registry.register(_StateCollector(app))
        self._request_children: dict[tuple, tuple] = {}
        app.extensions[EXTENSION_KEY] = self

    def request_answered(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        # A client may send any word as its method; only real ones get a label of their own,
        # so neither the registry nor this memo can be grown without bound.
        method = method if method in HTTP_METHODS else "OTHER"
        # Looking up a labelled child takes a lock and builds keys; there are few distinct label sets.
        children = self._request_children.get((method, route, status))
        if children is None:
            label = route or "<unmatched>"
            children = self.requests.labels(method, label, str(status)), self.latency.labels(method, label)
            self._request_children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def job_finished(self, outcome: str, seconds: float) -> None:
        """Count a finished job."""
        self.jobs.labels(outcome).inc()
        self.job_duration.labels(outcome).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class _StateCollector:
    """Gauges read at scrape time: queue depth, busy workers, cache bytes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def describe(self):
        return []

    def collect(self):
        from ..db.extensions import db
        from ..jobs.runner import get_runner
        from ..media.lifecycle import retained_bytes, used_bytes

        runner = get_runner(self.app)
        with self.app.app_context():
            try:
                retained = retained_bytes()
                live = used_bytes() - retained
            finally:
                db.session.remove()
        yield GaugeMetricFamily("mediacache_queue_depth", "Jobs waiting for a worker.", value=runner.waiting_count())
        yield GaugeMetricFamily("mediacache_workers_busy", "Workers running a job.", value=runner.busy_count())
        yield GaugeMetricFamily("mediacache_workers", "Size of the worker pool.", value=runner.size)
        yield GaugeMetricFamily("mediacache_cache_bytes_live", "Bytes of files being served.", value=live)
        yield GaugeMetricFamily("mediacache_cache_bytes_retained", "Bytes of files kept privately.", value=retained)
        yield from _source_gauges(self.app)


def _source_gauges(app: Flask):
    """Per extractor (site): 1 while it works, 0 after an infrastructure failure or failed canary; yt-dlp's age."""
    from ..sources.failures import ytdlp_age_days
    from ..sources.site_status import get_source_health

    up = GaugeMetricFamily("mediacache_extractor_up", "Whether the site's extractor works (jobs, canaries).",
                           labels=["extractor"])  # fmt: skip
    for site, state in get_source_health(app).snapshot().items():
        up.add_metric([site], 1 if state.get("up", True) else 0)
    yield up
    age = ytdlp_age_days()
    if age is not None:
        yield GaugeMetricFamily("mediacache_ytdlp_age_days", "Days since the installed yt-dlp was released.", value=age)


def get_metrics(app: Flask | None = None) -> Metrics | None:
    """The app's metrics, if enabled."""
    return (app or current_app).extensions.get(EXTENSION_KEY)
