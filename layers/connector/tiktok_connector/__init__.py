"""TikTok Connector for AWS: the shared layer.

Everything the four Lambdas do lives here; the handlers in ``functions/`` are thin glue.
See ``docs/architecture.md`` for the module map and the contracts between modules.
"""
