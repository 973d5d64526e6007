"""The development SMTP sink: an aiosmtpd server writing each message to ``{data_dir}/mailbox``.

Files (not a table) so the sink works before the schema exists and a developer can
open the raw ``.eml`` too; the dev-only mailbox page reads them back (``store.dev_mailbox``).
"""

import itertools
import time
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
