"""Network look-ups of domain validation (BR 3.2.2.4: TXT, MX, the website file) and CAA (BR 3.2.2.8):
thin, synchronous adapters.

Each call asks the network afresh (no cache): a check must see the answer of the moment.
What cannot be looked up raises :class:`LookupFailed`; an empty answer (NXDOMAIN, no
records of the type) is an empty list. Deciding what a failure means (never "no CAA",
BR 3.2.2.8) is the caller's rule.
"""

import ipaddress
import re
import time
from dataclasses import dataclass
from datetime import timedelta

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import httpx

from domain.vetting.caa import CaaRecord

Timeout = float | timedelta


class LookupFailed(Exception):
    """``name`` (a DNS name or a URL) could not be looked up; ``reason`` is a short code:
    ``servfail``, ``refused``, ``timeout``, ``network``, ``dns_error`` for DNS; ``timeout``,
    ``network``, ``tls`` for HTTP, and the redirect codes of :class:`RedirectRefused`."""

    def __init__(self, name: str, reason: str, detail: str = "") -> None:
        self.name, self.reason, self.detail = name, reason, detail
        super().__init__(f"{name}: {reason}" + (f" ({detail})" if detail else ""))


class RedirectRefused(LookupFailed):
    """A redirect BR 3.2.2.4.18 does not let the CA follow. ``reason``: ``redirect_status``,
    ``redirect_scheme``, ``redirect_port``, ``redirect_location`` or ``too_many_redirects``."""


def _seconds(timeout: Timeout) -> float:
    return timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)


# --- DNS ----------------------------------------------------------------------------------


def parse_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"``, ``"[::1]:53"`` or ``"10.0.0.1"`` (port 53) as (host, port)."""
    host, port = address.strip(), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif host.count(":") == 1:
        host, _, p = host.partition(":")
        port = int(p)
    if not host or not 0 < port < 65536:
        raise ValueError(f"not a resolver address (host:port): {address!r}")
    return host, port


def resolver_for(address: str | None, timeout: Timeout) -> dns.resolver.Resolver:
    """A resolver asking ``address`` ("ip:port"; None: the system's resolvers), giving up
    after ``timeout`` in all (``lifetime``) and per server attempt, keeping no cache."""
    if address:
        host, port = parse_address(address)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]  # an IP address: dnspython does not resolve its resolvers
        resolver.port = port
    else:
        resolver = dns.resolver.Resolver(configure=True)
    resolver.lifetime = resolver.timeout = _seconds(timeout)
    resolver.cache = None
    return resolver


def _failure_reason(exc: dns.exception.DNSException) -> tuple[str, str]:
    """The short reason code of a resolution that failed, and the resolver's own words."""
    if isinstance(exc, dns.exception.Timeout):
        return "timeout", str(exc)
    if isinstance(exc, dns.resolver.NoNameservers):
        codes = []
        for error in exc.kwargs.get("errors") or []:
            response, problem = error[4], error[3]
            if isinstance(response, dns.message.Message):
                codes.append(dns.rcode.to_text(response.rcode()).lower())
            elif isinstance(problem, dns.exception.Timeout):
                codes.append("timeout")
            elif isinstance(problem, OSError | EOFError):
                codes.append("network")
            else:
                codes.append("dns_error")
        # The first server's answer names the failure (servfail, refused, ...).
        return (codes[0] if codes else "dns_error"), str(exc)
    return "dns_error", str(exc)


def _resolve(name: str, rdtype: str, resolver: dns.resolver.Resolver) -> list:
    """The records of ``rdtype`` at ``name`` (following CNAME as the resolver does); [] when
    the name or the type does not exist there."""
    try:
        qname = dns.name.from_text(name)  # absolute: never a search-list suffix
    except dns.exception.DNSException as exc:
        raise ValueError(f"not a domain name: {name!r} ({exc})") from exc
    try:
        answer = resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        reason, detail = _failure_reason(exc)
        raise LookupFailed(name, reason, detail) from exc
    except OSError as exc:
        raise LookupFailed(name, "network", str(exc)) from exc
    return list(answer.rrset) if answer.rrset is not None else []


def txt_records(name: str, resolver: str | None, timeout: Timeout) -> list[str]:
    """The TXT strings at ``name``, asking ``resolver`` ("ip:port"; None: the system's):
    one per record, its character-strings joined."""
    records = _resolve(name, "TXT", resolver_for(resolver, timeout))
    return [b"".join(rdata.strings).decode("utf-8", errors="replace") for rdata in records]


def caa_records(name: str, resolver: str | None, timeout: Timeout) -> list[CaaRecord]:
    """The CAA records at ``name`` itself (climbing the tree is the caller's, RFC 8659 s. 3).
    An empty list is "no CAA here"; a failure raises and must never be read as that."""
    records = _resolve(name, "CAA", resolver_for(resolver, timeout))
    return [
        CaaRecord(int(rdata.flags), rdata.tag.decode("ascii", errors="replace"),
                  rdata.value.decode("utf-8", errors="replace"))
        for rdata in records
    ]


def mx_records(name: str, resolver: str | None, timeout: Timeout) -> list[tuple[int, str]]:
    """The MX records at ``name`` as (preference, exchange) with the exchange absolute and
    lower-case (``"."`` is RFC 7505's null MX). An empty list is "no MX": RFC 5321 s. 5.1 then
    makes the name itself the implicit MX; deciding that is the caller's."""
    records = _resolve(name, "MX", resolver_for(resolver, timeout))
    return [(int(rdata.preference), rdata.exchange.to_text().lower()) for rdata in records]


def address_records(name: str, resolver: str | None, timeout: Timeout) -> list[str]:
    """The A and AAAA addresses of ``name`` (an implicit MX is reached through them)."""
    chosen = resolver_for(resolver, timeout)
    return [str(rdata.address) for rdtype in ("A", "AAAA") for rdata in _resolve(name, rdtype, chosen)]


# --- The website file (BR 3.2.2.4.18) ------------------------------------------------------

# BR 3.2.2.4.18 "Agreed-Upon Change to Website v2" (Baseline Requirements v2.3.0; the redirect
# rules are unchanged since SC044, v1.7.6, for validations from 2021-07-01):
#   the file MUST be under "/.well-known/pki-validation", retrieved via "http" or "https",
#   over an Authorized Port, and a 2xx response MUST be received. If the CA follows redirects:
#   1. they MUST be initiated at the HTTP layer, the result of a 301, 302 or 307 (RFC 7231
#      s. 6.4) or 308 (RFC 7538 s. 3) response, to the final value of the Location header;
#   2. to resource URLs with the "http" or "https" scheme;
#   3. accessed via Authorized Ports (BR 1.6.1: 80 http, 443 https, 25 smtp, 22 ssh).
# The BR sets no number of redirects: MAX_REDIRECTS is ours. Of the Authorized Ports we follow
# only the web ones (80, 443) -- a stricter subset: nobody serves the file over SMTP or SSH.
# ``port`` (CERTDESK_DCV_HTTP_PORT) is 80 in production; tests, which cannot bind 80, pass a
# loopback port, and a redirect to that same port is also followed -- which in production
# adds nothing to {80, 443}.
VALIDATION_DIRECTORY = "/.well-known/pki-validation/"
REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
REDIRECT_SCHEMES = frozenset({"http", "https"})
AUTHORIZED_WEB_PORTS = frozenset({80, 443})
MAX_REDIRECTS = 10
MAX_BODY = 64 * 1024
_HOST = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")  # a name or an IP


@dataclass(frozen=True)
class FetchResult:
    status: int  # of the last response; only a 2xx proves anything
    body: bytes  # at most MAX_BODY bytes of it
    final_url: str
    redirects: tuple[str, ...] = ()  # the URLs redirected to, in order
    truncated: bool = False  # the body was longer than MAX_BODY


def _check_redirect(current: httpx.URL, response: httpx.Response, allowed_ports: frozenset[int]) -> httpx.URL:
    """Where BR 3.2.2.4.18 lets the CA follow ``response`` (a 3xx), or RedirectRefused."""
    if response.status_code not in REDIRECT_STATUSES:
        raise RedirectRefused(str(current), "redirect_status", f"HTTP {response.status_code}")
    location = response.headers.get("location")
    if not location:
        raise RedirectRefused(str(current), "redirect_location", "no Location header")
    try:
        target = current.join(location)  # a relative reference resolves against the request
    except httpx.InvalidURL as exc:
        raise RedirectRefused(str(current), "redirect_location", location) from exc
    if target.scheme not in REDIRECT_SCHEMES:
        raise RedirectRefused(str(current), "redirect_scheme", location)
    if not _HOST.fullmatch(target.host):
        raise RedirectRefused(str(current), "redirect_location", location)
    port = target.port or (443 if target.scheme == "https" else 80)
    if port not in allowed_ports:
        raise RedirectRefused(str(current), "redirect_port", location)
    return target


def address_of(host: str, resolver: str | None, timeout: Timeout) -> str:
    """The IPv4 address the CA's own resolver gives ``host`` (an IP literal stays as it is).

    The website is found through the same resolver as every other look-up, never the
    operating system's: each perspective sees its own network's answer."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    records = _resolve(host, "A", resolver_for(resolver, timeout))
    if not records:
        raise LookupFailed(host, "no_address")
    return str(records[0].address)


def fetch_validation_file(domain: str, path: str, port: int, timeout: Timeout,
                          resolver: str | None = None) -> FetchResult:
    """GET ``http://{domain}:{port}{path}``, following redirects only as BR 3.2.2.4.18 allows.

    Each host is found through ``resolver`` (see ``address_of``) and asked by its name (the
    ``Host`` header). ``timeout`` bounds the whole fetch, redirects included. Network errors
    raise LookupFailed; a redirect the BR forbids raises RedirectRefused (a LookupFailed); any
    other answer, 404 included, is the returned FetchResult.
    """
    if not path.startswith(VALIDATION_DIRECTORY):
        raise ValueError(f"the file must be under {VALIDATION_DIRECTORY} (BR 3.2.2.4.18): {path!r}")
    allowed_ports = AUTHORIZED_WEB_PORTS | {port}
    deadline = time.monotonic() + _seconds(timeout)
    url = httpx.URL(scheme="http", host=domain, port=port, path=path)
    redirects: list[str] = []
    # No proxies from the environment: the CA itself must reach the domain. The https
    # certificate is not verified (as Let's Encrypt's http-01): the file's content, served
    # by whoever the domain's DNS points at, is what proves control.
    with httpx.Client(follow_redirects=False, trust_env=False, verify=False,  # noqa: S501
                      headers={"User-Agent": "certdesk-dcv/1", "Accept": "*/*"}) as client:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LookupFailed(str(url), "timeout")
            host = url.host
            target = url.copy_with(host=address_of(host, resolver, remaining))
            headers = {"Host": host if url.port in (None, 80, 443) else f"{host}:{url.port}"}
            try:
                with client.stream("GET", target, headers=headers, timeout=remaining,
                                   extensions={"sni_hostname": host}) as response:
                    if 300 <= response.status_code < 400:
                        target = _check_redirect(url, response, allowed_ports)
                        if len(redirects) >= MAX_REDIRECTS:
                            raise RedirectRefused(str(url), "too_many_redirects", f"more than {MAX_REDIRECTS}")
                        redirects.append(str(target))
                        url = target
                        continue
                    body, truncated = _read_capped(response, deadline, url)
                    return FetchResult(response.status_code, body, str(url), tuple(redirects), truncated)
            except httpx.TimeoutException as exc:
                raise LookupFailed(str(url), "timeout", str(exc)) from exc
            except httpx.ConnectError as exc:
                reason = "tls" if "SSL" in str(exc) or "TLS" in str(exc) else "network"
                raise LookupFailed(str(url), reason, str(exc)) from exc
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                raise LookupFailed(str(url), "network", str(exc)) from exc


def _read_capped(response: httpx.Response, deadline: float, url: httpx.URL) -> tuple[bytes, bool]:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY:
            return bytes(body[:MAX_BODY]), True
        if time.monotonic() > deadline:
            raise LookupFailed(str(url), "timeout", "reading the body")
    return bytes(body), False
