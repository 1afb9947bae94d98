"""Header recognition in the languages marketing exports use, and what it must not read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.segments.headers import classify_header, fold_header


@pytest.mark.parametrize(
    ("header", "id_type"),
    [
        # German
        ("E-Mail", "email"), ("E-Mail-Adresse", "email"), ("EMail Adresse", "email"),
        ("Telefon", "phone"), ("Telefonnummer", "phone"), ("Handy", "phone"),
        ("Handynummer", "phone"), ("Mobil", "phone"), ("Mobiltelefon", "phone"),
        ("Tel. Nr.", "phone"), ("Telefon geschäftlich", "phone"), ("Mobilnummer (privat)", "phone"),
        # French
        ("Courriel", "email"), ("Adresse e-mail", "email"), ("Téléphone", "phone"),
        ("Numéro de téléphone", "phone"), ("Portable", "phone"), ("Tél. portable", "phone"),
        # Spanish
        ("Correo", "email"), ("Correo electrónico", "email"), ("Teléfono", "phone"),
        ("Móvil", "phone"), ("Teléfono móvil", "phone"), ("Celular", "phone"),
        # Italian
        ("Indirizzo e-mail", "email"), ("Posta elettronica", "email"), ("Cellulare", "phone"),
        ("Numero di telefono", "phone"),
        # Portuguese
        ("Endereço de e-mail", "email"), ("Telemóvel", "phone"), ("Telefone", "phone"),
        # Dutch
        ("E-mailadres", "email"), ("Telefoonnummer", "phone"), ("Mobiel", "phone"),
        ("Mobiel nummer", "phone"), ("GSM", "phone"),
        # English variants, qualifiers, numbering
        ("email2", "email"), ("E-Mail 2", "email"), ("work email", "email"),
        ("Personal E-mail", "email"), ("Work Phone", "phone"), ("Home phone 2", "phone"),
        ("Mobile Phone Number", "phone"), ("phone_3", "phone"),
    ],
)  # fmt: skip
def test_headers_in_seven_languages(header: str, id_type: str) -> None:
    assert classify_header(header) == (id_type, None)


@pytest.mark.parametrize(
    "header",
    [
        "email_opt_in", "Email Opt-In", "email_verified", "Phone Type", "phone_country",
        "first_name", "customer_id", "Kundennummer", "Kontakt", "Adresse", "address", "Straße",
        "Name", "zip", "E", "Nummer", "contact", "mobile_app_version", "",
    ],
)  # fmt: skip
def test_names_that_only_mention_an_identifier_are_not_read(header: str) -> None:
    assert classify_header(header) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("work_email_sha256", ("email", "sha256")),
        ("E-Mail SHA256", ("email", "sha256")),
        ("telefon_sha256", ("phone", "sha256")),
        ("hashed_work_email", ("email", "")),
        ("IDFA_MD5", ("idfa", "md5")),
    ],
)
def test_declared_hashes_around_new_aliases(header: str, expected: tuple[str, str]) -> None:
    assert classify_header(header) == expected


def test_folding_drops_accents_case_and_punctuation() -> None:
    assert fold_header(" Téléphone (Büro) ") == "telephone_buro"
    assert fold_header("STRASSE") == fold_header("Straße") == "strasse"
    assert fold_header("\ufeffE-Mail") == "e_mail"


@given(st.text(max_size=40))
def test_any_header_is_classified_or_not_without_error(header: str) -> None:
    found = classify_header(header)
    assert found is None or found[0] in ("email", "phone", "idfa", "gaid", "maid")
    assert fold_header(fold_header(header)) == fold_header(header)
