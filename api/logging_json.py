"""Structured logs (CERTDESK_LOG_FORMAT=json): one JSON object a line, for the web app and the worker.

A request's line (``certdesk.request``, written by api/metrics.py) names its method, route
template, status and duration: never the raw path or query string, where links carry secrets.
uvicorn's access log, which writes the raw path, is turned off in this mode.
"""

import json
import logging
from datetime import UTC, datetime

REQUEST_FIELDS = ("method", "route", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in REQUEST_FIELDS:
            if field in record.__dict__:
                line[field] = record.__dict__[field]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


HANDLER_NAME = "certdesk-json"


def enabled(log_format: str) -> bool:
    return log_format == "json"


def install(log_format: str) -> None:
    """Every record of this process as a JSON line on stderr (idempotent)."""
    if not enabled(log_format):
        return
    formatter = JsonFormatter()
    root = logging.getLogger()
    # Our own handler, known by name: another handler that merely shares the formatter (uvicorn's, a
    # test harness's) is not it, and a process that set its handlers back gets ours again.
    if not any(h.get_name() == HANDLER_NAME for h in root.handlers):
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler()
        handler.set_name(HANDLER_NAME)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own handlers, configured before the app
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
    logging.getLogger("uvicorn.access").disabled = True  # our request line replaces it
