"""Errors raised by the PKI core, shaped so the UI can point at the offending field."""

from __future__ import annotations


class CsrError(ValueError):
    """A CSR (or its key or names) is unacceptable; `field` names the part to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class LintError(RuntimeError):
    """pkilint found problems at WARNING or above, so nothing was signed."""

    def __init__(self, findings: list[str]) -> None:
        super().__init__("pre-issuance lint failed: " + ", ".join(findings))
        self.findings = findings


class CaConfigurationError(RuntimeError):
    """The CA cannot be used as configured (no passphrase in production, wrong passphrase, keys missing)."""
