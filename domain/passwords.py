"""Password rules for customers (S-11): length, not the access key, no composition rules
(NIST SP 800-63B: length beats character classes)."""

MIN_LENGTH, MAX_LENGTH = 12, 128


def password_problem(new: str, access_key: str, current: str | None = None) -> str | None:
    """Why ``new`` cannot be the password, or None when it can."""
    if len(new) < MIN_LENGTH:
        return f"the new password must be at least {MIN_LENGTH} characters"
    if len(new) > MAX_LENGTH:
        return f"the new password must be at most {MAX_LENGTH} characters"
    if access_key and access_key in new.replace(" ", ""):
        return "the new password must not contain the access key"
    if current is not None and new == current:
        return "the new password must differ from the current one"
    return None
