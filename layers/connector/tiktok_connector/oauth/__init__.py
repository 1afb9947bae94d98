"""OAuth: connect tickets, signed state, the callback's token exchange, storage and disconnect.

Modules: :mod:`.settings` (``OAuthSettings``), :mod:`.state` (signing), :mod:`.tickets` (who may
open ``/connect``), :mod:`.store` (nonces, authorization secrets, advertiser index),
:mod:`.flow` (connect / callback / disconnect; with :mod:`.models`, the routes' request and results,
:mod:`.scopes`, the permissions checked, and :mod:`.secrets`, the app credentials and state key),
:mod:`.pages` (HTML), :mod:`.errors`.
"""
