"""Access logs never keep a link's secret: the token in ``/enroll/{token}``, ``/dcv/{token}``,
``/download/{token}``, ``/reissue/{token}`` (and their ``/api/v1/`` twins) is written as ``…``.

Installed on uvicorn's access logger by ``create_app``, so it holds however the app is served.
"""

import logging
import re

TOKEN_PATH = re.compile(r"^(/(?:api/v1/)?(?:enroll|dcv|downloads?|reissue)/)[^/?#]+")


def redact(path: str) -> str:
    return TOKEN_PATH.sub(r"\1…", path)


class RedactTokens(logging.Filter):
    """uvicorn's access record: args = (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
