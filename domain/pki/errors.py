"""Errors raised by the PKI core, shaped so the UI can point at the offending field."""

from __future__ import annotations

# Every reason a CSR is refused for (``CsrError.code``); tests/test_csr_messages.py finds each raise's.
CSR_CODES = (
    "invalid", "not_one_pem_block", "not_base64", "unparsable", "extensions_malformed", "san_not_dns",
    "multiple_common_names", "public_key_unreadable", "signature_uncheckable", "signature_mismatch",
    "no_dns_names", "too_many_names", "duplicate_name", "common_name_not_in_san", "ev_wildcard",
    "label_invalid", "reserved_label", "invalid_idn_label", "empty_name", "non_ascii", "ip_address",
    "name_too_long", "trailing_dot", "wildcard_position", "wildcard_on_tld", "single_label", "numeric_tld",
    "reserved_domain", "not_public_tld", "wildcard_on_public_suffix", "public_suffix", "rsa_too_small",
    "rsa_too_large", "rsa_modulus_size", "rsa_exponent", "weak_key", "curve_not_accepted",
    "key_type_not_accepted",
)


class CsrError(ValueError):
    """A CSR (or its key or names) is unacceptable; `field` names the part to fix.

    ``message`` is English, for logs and histories; a person reads ``code`` (with ``params``)
    translated: ``csr_<code>`` in domain/locales/*/csr.json.
    """

    def __init__(self, field: str, message: str, code: str = "invalid", **params: str | int) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code
        # Names come from the requester's CSR: shown back, but never at any length.
        self.params = {k: v[:80] if isinstance(v, str) else v for k, v in params.items()}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class LintError(RuntimeError):
    """pkilint found problems at WARNING or above, so nothing was signed."""

    def __init__(self, findings: list[str]) -> None:
        super().__init__("pre-issuance lint failed: " + ", ".join(findings))
        self.findings = findings


class CaConfigurationError(RuntimeError):
    """The CA cannot be used as configured (no passphrase in production, wrong passphrase, keys missing)."""
