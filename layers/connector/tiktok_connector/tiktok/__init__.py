"""TikTok, seen from the connector: one home for talking to the Marketing API and for its failures.

Modules, each importing only the ones before it:

    ``codes``   :class:`Code`, TikTok's return codes the code relies on (each with its contract
                row), and the code classes (success, throttling, token, retryable)
    ``errors``  the typed errors: :class:`RetryableTikTokError`, :class:`TokenRejectedError`,
                :class:`PermanentTikTokError` (``error_for(code, …)`` picks one)
    ``retry``   :class:`RetryPolicy`, :func:`retry_step` (back-off with jitter inside a deadline,
                with an optional check whether a step whose answer was lost went through) and
                :func:`with_token_refetch` (a rejected token is refetched once)
    ``client``  :class:`TikTokClient` (envelope, typed errors, every call through
                :func:`retry_step`), :class:`TikTokResponse`, :class:`CallStats`

TikTok answers most errors with HTTP 200 and a non-zero body ``code``; success is ``code`` 0 or
20001 (partial). Every public name is importable from this package.
"""

from tiktok_connector.tiktok.client import CallStats, TikTokClient, TikTokResponse
from tiktok_connector.tiktok.codes import (
    HTTP_ERROR_CODE,
    NETWORK_ERROR_CODE,
    OK_CODES,
    THROTTLE_CODES,
    TIKTOK_FAULTS,
    TOKEN_CODES,
    Code,
    is_retryable_code,
)
from tiktok_connector.tiktok.errors import (
    PermanentTikTokError,
    RetryableTikTokError,
    TikTokError,
    TokenRejectedError,
    error_for,
)
from tiktok_connector.tiktok.retry import (
    ONE_ATTEMPT,
    RetryPolicy,
    retry_step,
    with_token_refetch,
)

__all__ = [
    "HTTP_ERROR_CODE",
    "NETWORK_ERROR_CODE",
    "OK_CODES",
    "ONE_ATTEMPT",
    "THROTTLE_CODES",
    "TIKTOK_FAULTS",
    "TOKEN_CODES",
    "CallStats",
    "Code",
    "PermanentTikTokError",
    "RetryPolicy",
    "RetryableTikTokError",
    "TikTokClient",
    "TikTokError",
    "TikTokResponse",
    "TokenRejectedError",
    "error_for",
    "is_retryable_code",
    "retry_step",
    "with_token_refetch",
]
