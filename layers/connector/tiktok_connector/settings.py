"""Settings: one validated model per function, read from the environment once.

Each function's model subclasses :class:`ConnectorSettings` and is exposed through a cached getter
made with :func:`settings_getter`. A bad environment fails on first use with a message that names the
variable. ``reset_settings`` clears every getter (tests and the local stack change the environment).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://business-api.tiktok.com/open_api/v1.3"
DEFAULT_AUTH_URL = "https://business-api.tiktok.com/portal/auth"


class SettingsError(RuntimeError):
    """The function's environment is missing or malformed (deployment error, not data error)."""


class ConnectorSettings(BaseSettings):
    """Settings every function shares."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    tiktok_api_base_url: str = DEFAULT_API_BASE_URL
    tiktok_auth_url: str = DEFAULT_AUTH_URL


S = TypeVar("S", bound=ConnectorSettings)

_GETTERS: list[Callable[[], object]] = []


def settings_getter(model: type[S]) -> Callable[[], S]:
    """Return a cached getter that builds ``model`` from the environment on first call."""

    @lru_cache(maxsize=1)
    def get() -> S:
        try:
            return model()
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']).upper() or model.__name__}: {err['msg']}"
                for err in exc.errors()
            )
            raise SettingsError(f"invalid environment for {model.__name__}: {problems}") from None

    _GETTERS.append(get)
    return get


def reset_settings() -> None:
    """Forget every cached settings object (the environment changed)."""
    for get in _GETTERS:
        get.cache_clear()  # type: ignore[attr-defined]
