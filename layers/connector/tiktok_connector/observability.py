"""One way to log and to measure, for the handlers and the layer alike.

* ``logger`` — the one Powertools ``Logger`` of the process. Handlers decorate with
  ``@logger.inject_lambda_context``; layer modules log through the same object, so every line is
  structured JSON on stdout with the invocation's keys (request id, cold start), at
  ``POWERTOOLS_LOG_LEVEL``. The standard library's loggers are not used in the layer: on Lambda
  the runtime's root handler drops ``extra=`` fields, and without ``basicConfig`` their INFO lines
  are lost (``tests/unit/layer/test_layer_rules.py`` keeps ``logging.getLogger`` out).
* ``metrics`` — the one Powertools ``Metrics`` (EMF) with the namespace the template's alarms read;
  handlers decorate with ``@metrics.log_metrics``. :func:`add_count` and :func:`add_count_by` are
  the two ways a count is recorded: plain, or with dimensions of its own.
* Tracing: none. Powertools' ``Tracer`` imports the X-Ray SDK, 120–160 ms of CPU at every cold
  start (docs/performance.md, "Cold start"), which the 400 ms import target cannot afford; the
  functions log and count instead, and the template does not turn X-Ray on.

Both objects are built at import, as Powertools intends: ``Logger`` reads ``POWERTOOLS_SERVICE_NAME``
and ``POWERTOOLS_LOG_LEVEL`` then. The namespace is passed explicitly because ``Metrics()`` would read
``POWERTOOLS_METRICS_NAMESPACE`` once, at import, and a process that imported the layer before the
variable was set (tests, the local stack) would fail every flush.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from tiktok_connector import METRICS_NAMESPACE

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)

__all__ = ["METRICS_NAMESPACE", "add_count", "add_count_by", "logger", "metrics"]


def add_count(sink: Any, name: str, value: float) -> None:
    """Add ``value`` to the count ``name`` of this invocation (``sink``: ``metrics`` or a fake)."""
    sink.add_metric(name=name, unit=MetricUnit.Count, value=value)


def add_count_by(sink: Any, name: str, value: float, **dimensions: str) -> None:
    """Record ``value`` for ``name`` under dimensions of its own (``reason="..."``; one EMF blob).

    Powertools' ``Metrics`` holds one dimension set per invocation, so a count per reason or per
    code goes out as a single metric; it keeps the function's ``service`` dimension so alarms
    that sum by service still see it."""
    service = getattr(sink, "service", None)
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=getattr(sink, "namespace", None) or METRICS_NAMESPACE,
        default_dimensions={"service": str(service)} if service else None,
    ) as metric:
        for dimension, key in dimensions.items():
            metric.add_dimension(name=dimension, value=key)
