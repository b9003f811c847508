"""A gauge as its owner declares it: a name, what it means, and how to read it at scrape time.

The job runner and the cache's capacity (media/capacity.py) know what their numbers mean;
ops/metrics.py only exposes them, so it never has to reach into either (and neither has to
import it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class Gauge(NamedTuple):
    """One value read when metrics are scraped."""

    name: str
    help: str
    read: Callable[[], float]


class LabelledGauge(NamedTuple):
    """A gauge with one value per label set, e.g. per extractor: ``read`` returns {label values: value}."""

    name: str
    help: str
    labels: tuple[str, ...]
    read: Callable[[], dict[tuple[str, ...], float]]
