"""OAuth: connect tickets, signed state, the callback's token exchange, storage and disconnect.

Modules: :mod:`.settings` (``OAuthSettings``), :mod:`.state` (signing), :mod:`.tickets` (who may
open ``/connect``), :mod:`.store` (nonces, authorization secrets, advertiser index),
:mod:`.flow` (connect / callback / disconnect), :mod:`.pages` (HTML), :mod:`.errors`.
"""
