"""The OAuth function's own secrets: the TikTok app credentials and the state signing key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiktok_connector.oauth.errors import ConfigurationError
from tiktok_connector.oauth.settings import OAuthSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


class StackSecrets:
    """The app credentials and the state key, read through Powertools (cached ``max_age``)."""

    def __init__(self, settings: OAuthSettings, provider: SecretsProvider) -> None:
        self.settings = settings
        self.provider = provider

    def state_key(self) -> bytes:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        name = self.settings.state_key_secret_name
        try:
            value = self.provider.get(name, max_age=self.settings.secrets_max_age_seconds)
        except GetParameterError:
            raise ConfigurationError(
                "The state signing key cannot be read.",
                reason="state_key_unreadable",
                hint=f"Check the secret {name} and the function's permission to read it.",
            ) from None
        if not isinstance(value, str) or len(value) < 32:
            raise ConfigurationError(
                "The state signing key is missing or too short.",
                reason="state_key_invalid",
                hint=f"Put a random string of at least 32 characters in the secret {name}.",
            )
        return value.encode("utf-8")

    def app_credentials(self) -> tuple[str, str]:
        from aws_lambda_powertools.utilities.parameters.exceptions import (
            GetParameterError,
            TransformParameterError,
        )

        name = self.settings.app_secret_name
        hint = (
            f"Put the TikTok app id and secret in the secret {name} as "
            '{"app_id": "...", "secret": "..."}.'
        )
        try:
            value = self.provider.get(
                name, max_age=self.settings.secrets_max_age_seconds, transform="json"
            )
        except (GetParameterError, TransformParameterError):
            raise ConfigurationError(
                "The TikTok app credentials cannot be read.",
                reason="app_secret_unreadable",
                hint=hint,
            ) from None
        app_id = value.get("app_id") if isinstance(value, dict) else None
        secret = value.get("secret") if isinstance(value, dict) else None
        if not isinstance(app_id, str) or not app_id or not isinstance(secret, str) or not secret:
            raise ConfigurationError(
                "The TikTok app credentials are not set.", reason="app_secret_empty", hint=hint
            )
        return app_id, secret

    def refresh(self) -> None:
        """Forget cached values (after TikTok said the app credentials do not match)."""
        self.provider.clear_cache()
