"""Audience e-mails through ingest get TikTok's audience rule (contract ID-02): "+" and what
follows it up to "@" are dropped, dots stay — for customer files and partner audiences alike."""

from __future__ import annotations

import pytest

from tiktok_connector.identity import sha256_hex

from .conftest import Harness

ADV = "7100000000000000001"


@pytest.mark.parametrize("api", ["file", "segment"])
def test_plus_tags_are_dropped_dots_kept_and_hashes_pass_through(harness: Harness, api: str):
    prehashed = sha256_hex("someone+news@example.com")  # the sender's own hash: kept as is
    body = f"email\n Jane.Doe+Promo@Example.com \nplain.name@example.org\n{prehashed}\n"
    harness.drop(f"segments/{ADV}/Tags {api}/create/list.csv", body, {"audience-api": api})
    _, rows = harness.chunk_rows(harness.chunk_messages())
    assert rows == [
        sha256_hex("jane.doe@example.com"),
        sha256_hex("plain.name@example.org"),
        prehashed,
    ]
