"""Password rules for customers (S-11): length, not the access key, no composition rules
(NIST SP 800-63B: length beats character classes)."""

import unicodedata

MIN_LENGTH, MAX_LENGTH = 12, 128


def password_problem(new: str, access_key: str, current: str | None = None) -> str | None:
    """Why ``new`` cannot be the password (a code: too_short, too_long, control_characters,
    contains_access_key, same_as_current), or None when it can."""
    if len(new) < MIN_LENGTH:
        return "too_short"
    if len(new) > MAX_LENGTH:
        return "too_long"
    if any(unicodedata.category(c)[0] == "C" for c in new):  # nobody can type them at a login
        return "control_characters"
    if access_key and access_key in new.replace(" ", ""):
        return "contains_access_key"
    if current is not None and new == current:
        return "same_as_current"
    return None
