"""Prometheus metrics: requests, jobs, queue, workers, cache bytes, sweeps.

Each app gets its own registry so several apps (tests, instances) never share counters.
Gauges are declared by their owners (the job runner, the cache's capacity) and handed in when the
app is built; jobs and sweeps are counted through the listeners their owners offer.
"""

from __future__ import annotations

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ..core.gauges import Gauge, LabelledGauge
from ..jobs.runner import get_runner
from ..jobs.scheduler import SWEEP_LISTENERS

EXTENSION_KEY = "mediacache.metrics"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The app's metric objects; views and jobs report through it."""

    def __init__(self, app: Flask, gauges: list[Gauge | LabelledGauge] = ()) -> None:
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
        self.registry.register(_GaugeCollector(list(gauges)))
        get_runner(app).finished_listeners.append(self.job_finished)
        app.extensions.setdefault(SWEEP_LISTENERS, []).append(lambda job_id: self.sweeps.labels(job_id).inc())
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


class _GaugeCollector:
    """The owners' gauges, read at scrape time."""

    def __init__(self, gauges: list[Gauge | LabelledGauge]) -> None:
        self.gauges = gauges

    def describe(self):
        return []

    def collect(self):
        for gauge in self.gauges:
            if isinstance(gauge, LabelledGauge):
                family = GaugeMetricFamily(gauge.name, gauge.help, labels=list(gauge.labels))
                for labels, value in gauge.read().items():
                    family.add_metric(list(labels), value)
                yield family
            elif (value := gauge.read()) is not None:  # None: nothing to report (e.g. a version without a date)
                yield GaugeMetricFamily(gauge.name, gauge.help, value=value)


def get_metrics(app: Flask | None = None) -> Metrics | None:
    """The app's metrics, if enabled."""
    return (app or current_app).extensions.get(EXTENSION_KEY)
