"""Saved account info (S-9, アカウント情報登録): the organization and contacts that prefill new
applications. Pure: shapes, normalisation and validation; storage is the API's.

Japanese users type full-width digits and hyphens (０３－１２３４－５６７８, 〒１５０ー０００１) and
half-width katakana; postal codes, phone numbers, registration numbers, e-mail addresses,
country codes and kana are NFKC-normalised (and dash look-alikes turned into "-") before they
are checked. Every other text is only stripped: an organization's name is kept as typed.

Each refusal names its field (``organization.postal_code``, ``contacts.technical.email``) with
a stable code (``postal_code``, ``required``, ``too_long``…) that pages translate.
"""

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from iso3166 import countries_by_alpha2  # the list pkilint checks certificate subjects against
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from domain.email_address import NotAnEmailAddress, normalise_email
from domain.text import line_problem
from domain.vetting import corporate_number

ContactRole = Literal["registrant", "technical", "administrative", "contract"]
ROLES: tuple[ContactRole, ...] = ("registrant", "technical", "administrative", "contract")
SECTIONS = ("reseller_code", "organization", *(f"contacts.{r}" for r in ROLES))

# Hyphens, dashes, minus signs and the katakana prolonged sound mark that IMEs produce for "-".
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−﹘﹣－ー─━"), "-")
_POSTAL = re.compile(r"\d{3}-\d{4}")
_PHONE = re.compile(r"\+?\d+(?:-\d+)*")
_REGISTRATION = re.compile(r"\d+(?:-\d+)*")
_KANA = re.compile(r"[\u30a0-\u30ff ]+")  # katakana, ・, ー, and spaces


def _error(code: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(code, message, ctx or None)


# --- normalisation (before) ----------------------------------------------------------------

def _plain(value: Any) -> Any:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else value


def _nfkc(value: Any) -> Any:
    value = _plain(value)
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _digits_and_dashes(value: Any) -> Any:
    value = _nfkc(value)
    return value.translate(_DASHES) if isinstance(value, str) else value


def _postal(value: Any) -> Any:
    value = _digits_and_dashes(value)
    if isinstance(value, str):
        value = value.removeprefix("〒").strip()
        if len(value) == 7 and value.isascii() and value.isdigit():
            value = f"{value[:3]}-{value[3:]}"
    return value


def _upper(value: Any) -> Any:
    value = _nfkc(value)
    return value.upper() if isinstance(value, str) else value


# --- checks (after) ------------------------------------------------------------------------

_LINE_MESSAGES = {"required": "is required", "too_long": "must be at most {max} characters",
                  "invisible_characters": "must not contain invisible or text-direction characters",
                  "control_characters": "must be one line without control characters"}


def _bounded(max_length: int, required: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = line_problem(value, max_length, required)
        if problem is not None:
            raise _error(problem[0], _LINE_MESSAGES[problem[0]], **problem[1])
        return value
    return check


def _matching(check: Callable[[str], bool], code: str, message: str) -> Callable[[str], str]:
    def run(value: str) -> str:
        if value and not check(value):
            raise _error(code, message)
        return value
    return run


def _is_phone(value: str) -> bool:
    return bool(_PHONE.fullmatch(value)) and 10 <= sum(c.isdigit() for c in value) <= 15


def _corporate_number_holds(value: str) -> bool:
    digits = value.replace("-", "")
    return len(digits) != 13 or corporate_number.check(digits) is None


def _email(value: str) -> str:
    """The shared rule (domain/email_address.py); what is saved is the normalised address."""
    if not value:
        return value
    try:
        return normalise_email(value)
    except NotAnEmailAddress:
        raise _error("email", "must be an e-mail address like it@example.co.jp") from None


def _text(max_length: int, required: bool = False) -> Any:
    return Annotated[str, BeforeValidator(_plain), AfterValidator(_bounded(max_length, required))]


Name = _text(200, required=True)
Text = _text(200)
Short = _text(100)
Required = _text(100, required=True)
Address = _text(300)
Kana = Annotated[str, BeforeValidator(_nfkc), AfterValidator(_bounded(200, False)),
                 AfterValidator(_matching(_KANA.fullmatch, "kana", "must be written in katakana"))]
PostalCode = Annotated[str, BeforeValidator(_postal), AfterValidator(_bounded(20, False)),
                       AfterValidator(_matching(_POSTAL.fullmatch, "postal_code",
                                                "must be a postal code like 150-0001 (NNN-NNNN)"))]
_PHONE_MESSAGE = "must be digits and hyphens, like 03-1234-5678 (10 to 15 digits)"
Phone = Annotated[str, BeforeValidator(_digits_and_dashes), AfterValidator(_bounded(24, False)),
                  AfterValidator(_matching(_is_phone, "phone", _PHONE_MESSAGE))]
RequiredPhone = Annotated[str, BeforeValidator(_digits_and_dashes), AfterValidator(_bounded(24, True)),
                          AfterValidator(_matching(_is_phone, "phone", _PHONE_MESSAGE))]
Fax = Annotated[str, BeforeValidator(_digits_and_dashes), AfterValidator(_bounded(24, False)),
                AfterValidator(_matching(_is_phone, "fax", _PHONE_MESSAGE))]
Email = Annotated[str, BeforeValidator(_nfkc), AfterValidator(_bounded(254, True)), AfterValidator(_email)]
RegistrationNumber = Annotated[str, BeforeValidator(_digits_and_dashes), AfterValidator(_bounded(20, False)),
                               AfterValidator(_matching(_REGISTRATION.fullmatch, "registration_number",
                                                        "must be digits and hyphens, like 0100-01-123456")),
                               # Thirteen digits are a 法人番号: its check digit must hold.
                               AfterValidator(_matching(_corporate_number_holds, "corporate_number_check_digit",
                                                        "the check digit of this corporate number does not match"))]
Country = Annotated[str, BeforeValidator(_upper), AfterValidator(_bounded(20, True)),
                    AfterValidator(_matching(lambda v: v in countries_by_alpha2, "country",
                                             "must be an ISO 3166 two-letter country code, like JP"))]
ResellerCode = _text(40)


class _Strict(BaseModel):
    # Unknown names are refused (a typo must not vanish silently); defaults are validated too, so
    # a missing required field and a blank one give the same "required".
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Organization(_Strict):
    """組織情報: the applicant organization as registered (登記), and where it is now."""

    name: Name = ""  # 法人名
    name_kana: Kana = ""  # 法人名(カナ)
    registration_number: RegistrationNumber = ""  # 登記番号
    country: Country = "JP"
    state: Required = ""  # 都道府県
    locality: Required = ""  # 市区町村
    address: Address = ""  # 登記住所 (the rest)
    postal_code: PostalCode = ""  # 登記住所の郵便番号
    current_address: Address = ""  # 現住所
    current_postal_code: PostalCode = ""  # 現住所の郵便番号
    phone: Phone = ""


class Contact(_Strict):
    """One person in charge: 登録担当者, 技術担当者, 事務担当者 or 契約責任者."""

    name: Required = ""
    department: Short = ""
    postal_code: PostalCode = ""
    address: Address = ""
    phone: RequiredPhone = ""
    fax: Fax = ""
    email: Email = ""
    renewal_notice: bool = False  # 更新のご案内メール


class Contacts(_Strict):
    """Each contact may be left out entirely (null or absent); one that is given is complete."""

    registrant: Contact | None = None
    technical: Contact | None = None
    administrative: Contact | None = None
    contract: Contact | None = None  # 契約責任者 (A-3 contracts)


class Profile(_Strict):
    reseller_code: ResellerCode = ""  # 特約店コード
    organization: Organization
    contacts: Contacts = Contacts()

    def document(self) -> dict[str, Any]:
        """The stored and answered shape: contacts that were left out are absent."""
        return {"reseller_code": self.reseller_code, "organization": self.organization.model_dump(),
                "contacts": {role: c.model_dump() for role in ROLES if (c := getattr(self.contacts, role))}}


# --- form fields, for pages ------------------------------------------------------------------

@dataclass(frozen=True)
class FormField:
    name: str
    required: bool = False
    input: str = "text"  # text | kana | postal | tel | email | country | number | checkbox
    max_length: int = 200
    autocomplete: str = ""


ORGANIZATION_FIELDS = (
    FormField("name", True, autocomplete="organization"),
    FormField("name_kana"),
    FormField("registration_number", input="number", max_length=20),
    FormField("country", True, "country", 2, "country"),
    FormField("state", True, max_length=100, autocomplete="address-level1"),
    FormField("locality", True, max_length=100, autocomplete="address-level2"),
    FormField("address", max_length=300),
    FormField("postal_code", input="postal", max_length=8),
    FormField("current_address", max_length=300),
    FormField("current_postal_code", input="postal", max_length=8),
    FormField("phone", input="tel", max_length=24),
)
CONTACT_FIELDS = (
    FormField("name", True, max_length=100),
    FormField("department", max_length=100),
    FormField("postal_code", input="postal", max_length=8),
    FormField("address", max_length=300),
    FormField("phone", True, "tel", 24),
    FormField("fax", input="tel", max_length=24),
    FormField("email", True, "email", 254),
    FormField("renewal_notice", input="checkbox"),
)
_TRUE = ("on", "true", "1", "yes")


def empty_document(organization_name: str = "") -> dict[str, Any]:
    """What an unsaved profile looks like: blanks, Japan, the account's organization name."""
    organization = {f.name: "" for f in ORGANIZATION_FIELDS}
    organization.update(name=organization_name, country="JP")
    return {"reseller_code": "", "organization": organization, "contacts": {}}


def merged_with_defaults(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document with every field present (fields added later read as blank)."""
    doc = empty_document()
    doc["reseller_code"] = stored.get("reseller_code", "")
    doc["organization"].update(stored.get("organization") or {})
    blank = {f.name: False if f.input == "checkbox" else "" for f in CONTACT_FIELDS}
    doc["contacts"] = {role: {**blank, **c} for role, c in (stored.get("contacts") or {}).items() if role in ROLES}
    return doc


def from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """Flat form names (``organization.name``, ``contacts.technical.email``) to a document.

    A contact section left wholly blank is left out, as the manual asks (登録が不要な箇所は空欄).
    """
    def text(key: str) -> str:
        value = form.get(key, "")
        return value if isinstance(value, str) else ""

    doc: dict[str, Any] = {
        "reseller_code": text("reseller_code"),
        "organization": {f.name: text(f"organization.{f.name}") for f in ORGANIZATION_FIELDS},
        "contacts": {},
    }
    for role in ROLES:
        contact: dict[str, Any] = {f.name: text(f"contacts.{role}.{f.name}")
                                   for f in CONTACT_FIELDS if f.input != "checkbox"}
        notice = text(f"contacts.{role}.renewal_notice").lower() in _TRUE
        if notice or any(v.strip() for v in contact.values()):
            doc["contacts"][role] = {**contact, "renewal_notice": notice}
    return doc


def to_form(doc: Mapping[str, Any]) -> dict[str, str]:
    """A document as flat form values (checkboxes "on" or absent)."""
    values = {"reseller_code": str(doc.get("reseller_code", ""))}
    for name, value in (doc.get("organization") or {}).items():
        values[f"organization.{name}"] = str(value)
    for role, contact in (doc.get("contacts") or {}).items():
        for name, value in (contact or {}).items():
            if isinstance(value, bool):
                if value:
                    values[f"contacts.{role}.{name}"] = "on"
            else:
                values[f"contacts.{role}.{name}"] = str(value)
    return values


# --- validation results ------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldError:
    field: str  # dotted, as the form names it
    code: str  # required, too_long, postal_code, phone, fax, email, country, kana, ...
    message: str  # English
    ctx: dict[str, Any] = field(default_factory=dict)


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for e in exc.errors():
        code = "required" if e["type"] == "missing" else e["type"]
        errors.append(FieldError(".".join(str(p) for p in e["loc"]), code, e["msg"], dict(e.get("ctx") or {})))
    return errors


def validate(doc: Any) -> Profile:
    """The profile, or ValidationError naming each bad field."""
    return Profile.model_validate(doc)


def changed_sections(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """Which parts changed (for the audit log, which never carries the values themselves)."""
    before = before or {"reseller_code": "", "organization": {}, "contacts": {}}
    changed = []
    if before.get("reseller_code", "") != after.get("reseller_code", ""):
        changed.append("reseller_code")
    if (before.get("organization") or {}) != (after.get("organization") or {}):
        changed.append("organization")
    old, new = before.get("contacts") or {}, after.get("contacts") or {}
    changed += [f"contacts.{role}" for role in ROLES if old.get(role) != new.get(role)]
    return changed


def _normal_contact(contact: Any) -> Any:
    """A contact as validation leaves it (every field present), so that a stored one compares equal."""
    if not contact:
        return None
    try:
        return Contact.model_validate(contact).model_dump()
    except ValidationError:
        return contact


def changed_roles(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The roles whose person or details differ between two sets of contacts (担当者変更申請)."""
    return [role for role in ROLES if _normal_contact(before.get(role)) != _normal_contact(after.get(role))]
