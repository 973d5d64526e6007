"""新規申請 (S-2; manual 003 §2.1): what the form needs beyond the profile's own rules.

The contacts: all four roles are shown, prefilled from アカウント情報 and editable. A contact left
wholly blank stays blank (the profile's rule, 登録が不要な箇所は空欄); the roles below may not be
blank. The manual marks no role optional for an application; the registrant is who support calls
to confirm a revocation (§2.5 「登録担当者へ連絡」) and the technical contact receives the domain
validation and issuance mails, so both are required; 事務担当者 and 契約責任者 (A-3 contracts only)
are optional. The JSON API, whose callers may leave the contacts to the saved profile, requires none.
"""

from collections.abc import Mapping
from typing import Any

REQUIRED_ROLES: tuple[str, ...] = ("registrant", "technical")
TERMS_VERSION = "2026-12"  # the 利用規約 text agreed to (apply.json ``apply_terms_*``), kept in the audit


def missing_roles(contacts: Mapping[str, Any]) -> list[str]:
    """The required roles an application's contacts leave out."""
    return [role for role in REQUIRED_ROLES if not contacts.get(role)]
