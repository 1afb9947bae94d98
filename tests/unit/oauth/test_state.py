"""Signed state and ticket values: round trip, tamper detection, purpose separation (properties)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.oauth.state import (
    PURPOSE_STATE,
    PURPOSE_TICKET,
    SignatureError,
    SignedClaims,
    sign,
    valid_label,
    verify,
)

KEY = b"k" * 64
labels = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True) | st.just("")
claims = st.builds(
    SignedClaims,
    purpose=st.sampled_from([PURPOSE_STATE, PURPOSE_TICKET]),
    nonce=st.text(min_size=1, max_size=40),
    label=labels,
    expires_at=st.integers(min_value=0, max_value=2**40),
)


@given(claims)
def test_sign_then_verify_round_trips(value: SignedClaims) -> None:
    assert verify(sign(value, KEY), KEY, purpose=value.purpose) == value


@given(claims, st.data())
def test_any_single_character_change_is_detected(value: SignedClaims, data: st.DataObject) -> None:
    signed = sign(value, KEY)
    index = data.draw(st.integers(min_value=0, max_value=len(signed) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFabcdef0123456789-_.=").filter(lambda c: c != signed[index])
    )
    tampered = signed[:index] + replacement + signed[index + 1 :]
    with pytest.raises(SignatureError) as info:
        verify(tampered, KEY, purpose=value.purpose)
    assert info.value.reason == "forged"


@given(claims, st.binary(min_size=1, max_size=64).filter(lambda k: k != KEY))
def test_another_key_is_rejected(value: SignedClaims, other_key: bytes) -> None:
    with pytest.raises(SignatureError, match="forged"):
        verify(sign(value, other_key), KEY, purpose=value.purpose)


@given(claims)
def test_a_ticket_is_never_accepted_as_a_state_and_back(value: SignedClaims) -> None:
    other = PURPOSE_TICKET if value.purpose == PURPOSE_STATE else PURPOSE_STATE
    with pytest.raises(SignatureError, match="forged"):
        verify(sign(value, KEY), KEY, purpose=other)


@given(st.text(max_size=300))
def test_arbitrary_text_only_ever_raises_signature_error(text: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify(text, KEY, purpose=PURPOSE_STATE)
    assert info.value.reason == ("missing" if text == "" else "forged")


@pytest.mark.parametrize("value", [None, ""])
def test_absent_value_is_missing(value: str | None) -> None:
    with pytest.raises(SignatureError) as info:
        verify(value, KEY, purpose=PURPOSE_STATE)
    assert info.value.reason == "missing"


def test_expiry_is_inclusive_of_the_deadline() -> None:
    value = SignedClaims(PURPOSE_STATE, "n", "", 1000)
    assert not value.expired(999.9)
    assert value.expired(1000)


@pytest.mark.parametrize(
    ("label", "ok"),
    [
        ("acme", True),
        ("Acme_2026.q1-eu", True),
        ("-lead", False),
        ("a/b", False),
        ("a" * 64, True),
        ("a" * 65, False),
        ("<b>", False),
        ("", False),
        ("..", False),
    ],
)
def test_labels_are_safe_secret_name_parts(label: str, ok: bool) -> None:
    assert valid_label(label) is ok


def test_signature_text_is_canonical() -> None:
    signed = sign(SignedClaims(PURPOSE_STATE, "n", "", 10**10), KEY)
    head, payload, signature = signed.split(".")
    # 32 bytes -> 43 base64 chars; the last one carries 2 unused bits. Flip them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    twin = alphabet[last ^ 1]
    with pytest.raises(SignatureError, match="forged"):
        verify(f"{head}.{payload}.{signature[:-1]}{twin}", KEY, purpose=PURPOSE_STATE)
