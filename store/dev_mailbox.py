"""The development SMTP sink's messages, read back from ``{data_dir}/mailbox`` (one ``.eml`` each)."""

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class StoredMail:
    id: str
    received_at: datetime
    sender: str
    recipients: str
    subject: str
    body: str
    headers: dict[str, str]


def _read(path: Path) -> StoredMail:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body_part = msg.get_body(preferencelist=("plain", "html"))
    body = body_part.get_content() if body_part is not None else ""
    return StoredMail(
        id=path.stem,
        received_at=datetime.fromtimestamp(int(path.stem.split("-")[0]) / 1e9, UTC),
        sender=str(msg.get("From", "")),
        recipients=str(msg.get("To", "")),
        subject=str(msg.get("Subject", "")),
        body=body,
        headers={k: str(v) for k, v in msg.items()},
    )


def list_mail(directory: Path) -> list[StoredMail]:
    if not directory.is_dir():
        return []
    return [_read(p) for p in sorted(directory.glob("*.eml"), reverse=True)]


def get_mail(directory: Path, mail_id: str) -> StoredMail | None:
    if not mail_id.replace("-", "").isdigit():
        return None
    path = directory / f"{mail_id}.eml"
    return _read(path) if path.is_file() else None
