"""The development SMTP sink: an aiosmtpd server writing each message to ``{data_dir}/mailbox``.

Files (not a table) so the sink works before the schema exists and a developer can
open the raw ``.eml`` too; the dev-only mailbox page reads them back.
"""

import email
import email.policy
import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

_counter = itertools.count()


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:  # noqa: N802
        name = f"{time.time_ns()}-{next(_counter)}.eml"
        tmp = self.directory / f".{name}.tmp"
        data = envelope.original_content or envelope.content
        tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
        tmp.rename(self.directory / name)  # readers never see half a message
        return "250 Message accepted for delivery"


def start_sink(directory: Path, host: str, port: int) -> Controller:
    controller = Controller(MaildirHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


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
