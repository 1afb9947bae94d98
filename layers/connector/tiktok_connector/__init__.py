"""TikTok Connector for AWS: the shared layer.

Everything the four Lambdas do lives here; the handlers in ``functions/`` are thin glue.
See ``docs/architecture.md`` for the module map and the contracts between modules.
"""

# The CloudWatch namespace of our metrics (the template's alarms read it). Handlers pass it to
# Powertools explicitly: ``Metrics()`` would read the environment once, at import, and a module
# imported before the variable is set would then fail every flush.
METRICS_NAMESPACE = "TikTokConnector"
