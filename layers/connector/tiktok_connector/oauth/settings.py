"""Settings of the OAuth function (connect, callback, disconnect), read from the environment once."""

from __future__ import annotations

from pydantic import Field, field_validator

from tiktok_connector.settings import ConnectorSettings, settings_getter


class OAuthSettings(ConnectorSettings):
    """The OAuth function's environment (names come from ``template.yaml``)."""

    oauth_table: str = Field(min_length=1)
    app_secret_name: str = Field(min_length=1)
    state_key_secret_name: str = Field(min_length=1)
    authorizations_secret_prefix: str = Field(min_length=1)
    # KMS key for the authorization secrets this function creates ("" = aws/secretsmanager).
    authorizations_kms_key_arn: str = ""
    # Empty: derive https://<request domain>/oauth/callback from the request.
    oauth_redirect_uri: str = ""
    # How long a signed state (one consent round trip) stays valid.
    state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    # Secrets Manager recovery window when disconnecting; 0 deletes at once (local stack).
    authorization_recovery_window_days: int = Field(default=7, ge=0, le=30)
    # Cache of the app credentials and the state key (Powertools parameters max_age).
    secrets_max_age_seconds: int = Field(default=300, ge=0)

    @field_validator("authorization_recovery_window_days")
    @classmethod
    def _secrets_manager_window(cls, days: int) -> int:
        # Secrets Manager accepts 7-30 days, or a forced delete without recovery (0 here).
        if days != 0 and days < 7:
            raise ValueError("must be 0 (delete at once) or between 7 and 30 days")
        return days


oauth_settings = settings_getter(OAuthSettings)
