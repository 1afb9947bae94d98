"""Which identifier a column header (or JSONL key) names, in the languages marketing exports use.

A header is folded first: accents dropped (``Téléphone`` → ``telephone``), case folded
(``ß`` → ``ss``), every run of other characters made one ``_`` (``E-Mail-Adresse`` →
``e_mail_adresse``). Then, in this order:

1. a declared hash: a ``_sha256`` / ``_md5`` suffix, a ``sha256_`` / ``md5_`` / ``hashed_`` prefix
   or a ``_hash`` / ``_hashed`` suffix around a name that names an identifier (``EMAIL_SHA256``,
   ``work_email_sha256``, TikTok's own template names);
2. an alias (:data:`ALIASES`: English, German, French, Spanish, Italian, Portuguese, Dutch);
3. the alias after dropping qualifier words (``work``, ``privat``, ``professionnel``…), filler
   words (``number``, ``nr``, ``de``…) and numbering (``email2``, ``E-Mail 2``, ``phone_3``);
4. for phones, a name made only of phone words (``telefono_movil``, ``mobile_tel``).

Anything else is not an identifier column. Names that merely mention one (``email_opt_in``,
``phone_type``) are not read: a word that is neither an identifier word nor a qualifier keeps
the column out, which is what keeps a consent flag from being hashed as an address.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# id type → folded header names (accents already dropped). Keep entries lower-case, `_`-joined.
_BASE_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        # English
        "email", "e_mail", "email_address", "emailaddress", "e_mail_address", "email_addr",
        "mail", "user_email", "customer_email", "contact_email", "primary_email", "emails",
        "mail_address", "electronic_mail",
        # German
        "email_adresse", "e_mail_adresse", "emailadresse", "mailadresse", "mail_adresse",
        # French
        "courriel", "adresse_email", "adresse_e_mail", "adresse_mail", "adresse_courriel",
        "adresse_electronique", "mel",
        # Spanish
        "correo", "correo_electronico", "correo_e", "direccion_email", "direccion_correo",
        "direccion_correo_electronico", "direccion_e_mail",
        # Italian
        "posta_elettronica", "indirizzo_email", "indirizzo_e_mail", "indirizzo_mail",
        "indirizzo_posta_elettronica",
        # Portuguese
        "correio_eletronico", "correio_electronico", "endereco_email", "endereco_e_mail",
        "endereco_eletronico",
        # Dutch
        "emailadres", "e_mailadres", "e_mail_adres", "email_adres", "mailadres",
    ),
    "phone": (
        # English
        "phone", "phone_number", "phonenumber", "phone_no", "phone_num", "mobile",
        "mobile_number", "mobile_phone", "mobilephone", "mobile_no", "cell", "cell_phone",
        "cellphone", "telephone", "tel", "msisdn", "phone_e164", "phones", "cellular",
        # German
        "telefon", "telefonnummer", "handy", "handynummer", "mobil", "mobilnummer",
        "mobiltelefon", "mobilfunk", "mobilfunknummer", "rufnummer", "festnetz",
        "festnetznummer",
        # French
        "portable", "telephone_portable", "telephone_mobile", "gsm",
        # Spanish
        "telefono", "movil", "celular", "telefono_movil", "telefono_celular",
        # Italian
        "cellulare", "telefono_cellulare", "recapito_telefonico",
        # Portuguese
        "telefone", "telemovel", "telefone_celular", "telefone_movel",
        # Dutch
        "telefoon", "telefoonnummer", "mobiel", "mobielnummer", "mobiele_telefoon",
        "mobiel_nummer", "gsm_nummer", "gsmnummer",
    ),
    "idfa": ("idfa", "ios_idfa", "apple_idfa", "ios_ad_id", "ios_advertising_id"),
    "gaid": (
        "gaid", "aaid", "adid", "google_ad_id", "google_advertising_id", "android_ad_id",
        "android_advertising_id",
    ),
    "maid": (
        "maid", "mobile_ad_id", "mobile_advertising_id", "advertising_id", "ad_id", "ifa",
        "device_ad_id", "first",
    ),
}  # fmt: skip
ALIASES: dict[str, str] = {a: t for t, names in _BASE_ALIASES.items() for a in names}

# Words that say whose or which identifier it is, not what it is ("Work Phone", "E-Mail privat").
_QUALIFIERS = frozenset({
    # English
    "work", "home", "business", "personal", "private", "primary", "secondary", "other",
    "alternate", "alternative", "alt", "main", "office", "contact", "customer", "user", "client",
    "billing", "shipping", "new", "old", "current", "preferred", "default", "first", "second",
    "third",
    # German
    "privat", "geschaftlich", "geschaeftlich", "dienstlich", "beruflich", "haupt", "weitere",
    "zweite",
    # French
    "professionnel", "professionnelle", "pro", "perso", "personnel", "personnelle", "principal",
    "principale", "secondaire", "autre",
    # Spanish, Italian, Portuguese
    "trabajo", "secundario", "secundaria", "otro", "otra", "laboral", "empresa", "lavoro",
    "personale", "secondario", "altro", "aziendale", "ufficio", "trabalho", "pessoal", "outro",
    "comercial",
    # Dutch
    "werk", "prive", "zakelijk", "tweede", "ander", "andere",
})  # fmt: skip
# Words that only join or number the others ("numero de telephone", "Tel. Nr.", "phone no").
_FILLERS = frozenset({
    "de", "di", "da", "do", "du", "del", "della", "dello", "des", "of", "the", "van", "nr", "no",
    "num", "number", "numero", "nummer", "n",
})  # fmt: skip
_PHONE_WORDS = frozenset({
    "phone", "telephone", "tel", "telefon", "telefono", "telefone", "telefoon", "mobile", "mobil",
    "mobiel", "mobiele", "movil", "movel", "cell", "cellular", "cellulare", "celular", "handy",
    "portable", "gsm", "telemovel",
})  # fmt: skip
_HASH_SUFFIXES = (("_sha256", "sha256"), ("_sha_256", "sha256"), ("_md5", "md5"))
_HASH_PREFIXES = (("sha256_", "sha256"), ("md5_", "md5"), ("hashed_", ""))
_FOLD = re.compile(r"[^0-9a-z]+")
_TRAILING_DIGITS = re.compile(r"(?<=[a-z])[0-9]+$")


def fold_header(name: str) -> str:
    """``" E-Mail-Adresse "`` → ``"e_mail_adresse"``; ``"Téléphone"`` → ``"telephone"``."""
    text = unicodedata.normalize("NFKD", name.strip().strip("\ufeff"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return _FOLD.sub("_", text).strip("_")


def _core(folded: str) -> str:
    """``folded`` without qualifier and filler words and without numbering."""
    words = []
    for word in folded.split("_"):
        if not word or word.isdigit() or word in _QUALIFIERS or word in _FILLERS:
            continue
        words.append(_TRAILING_DIGITS.sub("", word))
    return "_".join(words)


def _id_type_of(base: str) -> str | None:
    """The id type a folded name (without any hash marker) names, or None."""
    found = ALIASES.get(base)
    if found is not None:
        return found
    core = _core(base)
    if not core:
        return None
    found = ALIASES.get(core)
    if found is not None:
        return found
    words = core.split("_")
    if all(w in _PHONE_WORDS for w in words):
        return "phone"
    return None


@functools.lru_cache(maxsize=4096)
def classify_header(name: str) -> tuple[str, str | None] | None:
    """``(id_type, declared_alg)`` of a header name, or None when it holds no identifier.

    ``declared_alg`` is ``"sha256"`` / ``"md5"`` for declared-hashed columns, ``""`` for a
    column declared hashed without naming the algorithm, and None for raw columns.
    """
    folded = fold_header(name)
    if not folded:
        return None
    found = _id_type_of(folded)
    if found is not None:
        return found, None
    for suffix, alg in _HASH_SUFFIXES:
        if folded.endswith(suffix):
            found = _id_type_of(folded[: -len(suffix)])
            if found is not None:
                return found, alg
    for prefix, alg in _HASH_PREFIXES:
        if folded.startswith(prefix):
            found = _id_type_of(folded[len(prefix) :])
            if found is not None:
                return found, alg
    for suffix in ("_hash", "_hashed"):
        if folded.endswith(suffix):
            found = _id_type_of(folded[: -len(suffix)])
            if found is not None:
                return found, ""
    return None
