"""A real authoritative DNS server on loopback, answering from a mutable zone (dnslib).
Development only: ``certdesk up`` serves one a person edits at /dev/dns; tests serve them
through ``tests/dns_server.py``. Never started in production.

:class:`Zone` is a plain, thread-safe model of what the server answers: TXT, CAA, CNAME, MX
and A records per name, and names made to fail (SERVFAIL, REFUSED) or to stay silent (the
asker times out). :func:`serve_zone` serves one over UDP and TCP on 127.0.0.1, on a free
port. Tests use it through the ``dns_zone`` fixture; ``certdesk up`` can serve the same
zone for development. Nothing here imports pytest.
"""

import contextlib
import errno
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from dnslib import CAA, CNAME, MX, QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer

from domain import dev_zone
from domain.dev_zone import InputError, Record

log = logging.getLogger("certdesk.dev_dns")

TTL = 0  # answers change under the asker's feet: nobody should keep them
MAX_CNAME_HOPS = 8


def _key(name: str) -> str:
    key = name.strip().rstrip(".").lower()
    if not key:
        raise ValueError("a domain name is needed")
    return key


def _txt_strings(value: str | Sequence[str]) -> list[bytes]:
    """One TXT record's character-strings: a str is split every 255 bytes, a sequence kept."""
    if isinstance(value, str):
        raw = value.encode()
        return [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return [s.encode() for s in value]


class Zone:
    """Records and behaviours per name. ``txt``, ``caa``, ``mx`` and ``a`` add records; ``cname``
    replaces the name's CNAME; ``clear`` removes a name's records (of one type, or all) and
    its failure; ``reset`` empties the zone. ``address`` is where it is (or was last) served."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, list[object]]] = {}
        self._failing: dict[str, str] = {}  # name -> "SERVFAIL" | "REFUSED" | "SILENT"
        self.address: str | None = None

    # --- changing the zone ---

    def _add(self, name: str, rtype: str, rdata: object) -> None:
        with self._lock:
            self._records.setdefault(_key(name), {}).setdefault(rtype, []).append(rdata)

    def txt(self, name: str, *values: str | Sequence[str]) -> None:
        """One TXT record per value; a sequence of strings makes one multi-string record."""
        for value in values:
            self._add(name, "TXT", TXT(_txt_strings(value)))

    def caa(self, name: str, flags: int, tag: str, value: str) -> None:
        """A CAA record (RFC 8659 s. 4.1: flags octet, tag length, tag, value)."""
        if not 0 <= flags <= 255:
            raise ValueError(f"CAA flags are one octet: {flags}")
        if not (tag.isascii() and 1 <= len(tag) <= 255):
            raise ValueError(f"a CAA tag is 1-255 ASCII characters: {tag!r}")
        self._add(name, "CAA", CAA(flags, tag, value))

    def a(self, name: str, *addresses: str) -> None:
        for address in addresses:
            self._add(name, "A", A(address))

    def mx(self, name: str, preference: int, exchange: str) -> None:
        """An MX record: mail for ``name`` goes to ``exchange`` (lower ``preference`` first)."""
        if not 0 <= preference <= 65535:
            raise ValueError(f"an MX preference is 0-65535: {preference}")
        self._add(name, "MX", MX(_key(exchange) + ".", preference))

    def cname(self, name: str, target: str) -> None:
        with self._lock:
            self._records.setdefault(_key(name), {})["CNAME"] = [CNAME(_key(target) + ".")]

    def servfail(self, name: str) -> None:
        self._fail(name, "SERVFAIL")

    def refused(self, name: str) -> None:
        self._fail(name, "REFUSED")

    def silent(self, name: str) -> None:
        """Queries for ``name`` get no answer at all: the asker times out."""
        self._fail(name, "SILENT")

    def _fail(self, name: str, how: str) -> None:
        with self._lock:
            self._failing[_key(name)] = how

    def clear(self, name: str, rtype: str | None = None) -> None:
        key = _key(name)
        with self._lock:
            self._failing.pop(key, None)
            if rtype is None:
                self._records.pop(key, None)
            else:
                self._records.get(key, {}).pop(rtype.upper(), None)
                if not self._records.get(key, True):
                    self._records.pop(key, None)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._failing.clear()

    # --- records as a person enters them (/dev/dns) ---

    def add(self, record: Record) -> bool:
        """Adds ``record`` (checked by ``domain.dev_zone.record``); False if it is there already.
        A CNAME shares its name with no other record (RFC 1034 s. 3.6.2): InputError."""
        with self._lock:
            types = self._records.get(record.name, {})
            if ("CNAME" in types and record.type != "CNAME") or (record.type == "CNAME" and set(types) - {"CNAME"}):
                raise InputError("type", "dev_err_cname_conflict")
            if (record.name, record.type, record.value) in self.rows():
                return False
            if record.type == "TXT":
                self.txt(record.name, str(record.parts[0]))
            elif record.type == "CAA":
                flags, tag, value = record.parts
                self.caa(record.name, int(flags), str(tag), str(value))
            elif record.type == "A":
                self.a(record.name, str(record.parts[0]))
            elif record.type == "MX":
                self.mx(record.name, int(record.parts[0]), str(record.parts[1]))
            else:
                self.cname(record.name, str(record.parts[0]))
            return True

    def remove(self, name: str, rtype: str, value: str) -> bool:
        """Removes the one record listed as (name, type, value) by ``rows``; False if none is."""
        key, kind = _key(name), rtype.strip().upper()
        with self._lock:
            rdatas = self._records.get(key, {}).get(kind, [])
            for i, rdata in enumerate(rdatas):
                if _value(kind, rdata) == value:
                    del rdatas[i]
                    if not rdatas:
                        self.clear(key, kind)
                    return True
        return False

    def rows(self) -> list[tuple[str, str, str]]:
        """(name, type, value as a person enters it) of every record (failures left out), sorted."""
        with self._lock:
            return sorted((name, rtype, _value(rtype, rdata)) for name, types in self._records.items()
                          for rtype, rdatas in types.items() for rdata in rdatas)

    # --- reading it ---

    def entries(self) -> list[tuple[str, str, str]]:
        """(name, type, data as in a zone file) of every record and failure, sorted."""
        with self._lock:
            rows = [(name, rtype, rdata.toZone()) for name, types in self._records.items()  # type: ignore[attr-defined]
                    for rtype, rdatas in types.items() for rdata in rdatas]
            rows += [(name, how, "") for name, how in self._failing.items()]
        return sorted(rows)

    def _exists(self, name: str) -> bool:
        """``name`` owns records, or is an empty non-terminal above a name that does."""
        return any(owner == name or owner.endswith("." + name) for owner in self._records)

    def answer(self, request: DNSRecord) -> DNSRecord | None:
        """The reply to ``request``, following CNAMEs inside the zone as a resolver would;
        None when the name is to stay silent."""
        reply = request.reply()  # aa, ra, the question echoed
        qtype = QTYPE[request.q.qtype]
        name = str(request.q.qname).rstrip(".").lower()
        with self._lock:
            for _ in range(MAX_CNAME_HOPS):
                how = self._failing.get(name)
                if how == "SILENT":
                    return None
                if how:
                    failed = request.reply()
                    failed.header.rcode = getattr(RCODE, how)
                    return failed
                types = self._records.get(name, {})
                if "CNAME" in types and qtype != "CNAME":
                    target = str(types["CNAME"][0].label)  # type: ignore[attr-defined]
                    reply.add_answer(RR(name + ".", QTYPE.CNAME, ttl=TTL, rdata=types["CNAME"][0]))
                    name = _key(target)
                    continue
                for rdata in types.get(qtype, []):
                    reply.add_answer(RR(name + ".", getattr(QTYPE, qtype), ttl=TTL, rdata=rdata))
                if not types.get(qtype) and not self._exists(name):
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
        reply.header.rcode = RCODE.SERVFAIL  # a CNAME loop
        return reply


def _value(rtype: str, rdata: object) -> str:
    """``rdata`` in the form a person enters it (``domain.dev_zone.Record.value``)."""
    if rtype == "TXT":
        return b"".join(rdata.data).decode(errors="replace")  # type: ignore[attr-defined]
    if rtype == "CAA":
        return f'{rdata.flags} {rdata.tag} "{rdata.value}"'  # type: ignore[attr-defined]
    if rtype == "MX":
        return f"{rdata.preference} {str(rdata.label).rstrip('.')}"  # type: ignore[attr-defined]
    if rtype == "CNAME":
        return str(rdata.label).rstrip(".")  # type: ignore[attr-defined]
    return str(rdata)


class FileZone(Zone):
    """A zone kept in a JSON file (``certdesk up``'s, under the data directory): read when made,
    written after every ``add`` and ``remove``, so what a person entered survives a restart."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        try:
            saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
        except (OSError, ValueError) as exc:
            log.warning("dev DNS: cannot read %s (%s); starting empty", path, exc)
            saved = []
        for row in saved if isinstance(saved, list) else []:
            try:
                super().add(dev_zone.record(row["name"], row["type"], row["value"]))
            except (InputError, KeyError, TypeError) as exc:
                log.warning("dev DNS: skipped a saved record %r (%s)", row, exc)

    def add(self, record: Record) -> bool:
        with self._lock:
            added = super().add(record)
            if added:
                self._save()
            return added

    def remove(self, name: str, rtype: str, value: str) -> bool:
        with self._lock:
            removed = super().remove(name, rtype, value)
            if removed:
                self._save()
            return removed

    def _save(self) -> None:
        rows = [{"name": name, "type": rtype, "value": value} for name, rtype, value in self.rows()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)  # a reader never sees half a file


class _Silence(DNSError):
    """Raised to send nothing: dnslib's handler drops a request whose reply raises DNSError."""


class _ZoneResolver:
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = self.zone.answer(request)
        if reply is None:
            raise _Silence("silent")
        return reply


class _Handler(DNSHandler):
    """Truncates UDP replies longer than the asker can take (512 bytes, or its EDNS size), so
    that big answers go over TCP as they do on the Internet."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed = reply.pack()
        if self.protocol == "udp":
            limit = max([512] + [rr.rclass for rr in request.ar if rr.rtype == QTYPE.OPT])
            if len(packed) > limit:
                truncated = request.reply()  # the question kept (dnslib's truncate() drops it)
                truncated.header.rcode = reply.header.rcode
                truncated.header.tc = 1
                packed = truncated.pack()
        return packed


_QUIET = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


class ZoneServer:
    """``zone`` served over UDP and TCP on ``host``: ``start()``, ``stop()``, ``address``."""

    def __init__(self, zone: Zone, host: str = "127.0.0.1", port: int = 0) -> None:
        self.zone, self.host, self.port = zone, host, port
        self._servers: list[DNSServer] = []
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "ZoneServer":
        resolver = _ZoneResolver(self.zone)
        for _ in range(50):
            udp = DNSServer(resolver, address=self.host, port=self.port, logger=_QUIET, handler=_Handler)
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(resolver, address=self.host, port=port, tcp=True, logger=_QUIET, handler=_Handler)
            except OSError as exc:
                udp.server.server_close()
                if self.port or exc.errno != errno.EADDRINUSE:
                    raise
                continue  # the free UDP port is taken for TCP: another one
            break
        else:
            raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")
        self.port = port
        self._servers = [udp, tcp]
        for server in self._servers:
            thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"dns-{server.server.socket_type}-{port}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.zone.address = self.address
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.server.shutdown()
            server.server.server_close()
        for thread in self._threads:
            thread.join(5)
        # zone.address stays: a stale loopback address only times out, where None would send
        # a look-up to the system's resolver.
        self._servers, self._threads = [], []


@contextlib.contextmanager
def serve_zone(zone: Zone | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[Zone]:
    """Serves ``zone`` (a new, empty one by default) until the block ends; yields it, its
    ``address`` set to "host:port"."""
    zone = zone or Zone()
    server = ZoneServer(zone, host, port).start()
    try:
        yield zone
    finally:
        server.stop()

