"""PKI overhead benchmark: certdesk's operations as ratios to the bare `cryptography` call.

    .venv/bin/python bench/pki.py [--quick]

The machine is shared and noisy, so absolute times mean little.  Each repeat times the bare
operation and ours back to back (alternating which goes first); the table shows the median
of each and their ratio.  What is compared:

  (a) issue_server_certificate (throwaway sign + pkilint + real sign) vs. one
      CertificateBuilder.sign of the very same certificate;
  (b) login issuance: key generation + issue_login_certificate + PKCS#12 (PBKDF2 at
      profiles.PKCS12_KDF_ROUNDS: 10,000 since issue 18 target 2, 600,000 before) vs. one
      CertificateBuilder.sign of the same certificate;
  (c) build_crl with 10,000 and 100,000 entries vs. CertificateRevocationListBuilder with all
      entries passed to its constructor, with the entries prebuilt and, second baseline,
      built from the same input; for 10,000 also add_revoked_certificate in a loop, which
      copies the entry list on every call (quadratic);
  (d) OCSP build_response vs. OCSPResponseBuilder.sign of the same response, as responses
      per second;
  (e) issue #18 target 4, on a database (a temporary SQLite file, or --database-url):
      ca.authority.issue_server (CSR checks + pre-issuance lint + sign + store, each call a
      new request and CSR) vs. one CertificateBuilder.sign plus one lint_certificate of the same
      certificate; and ca.authority.publish_crl of a CRL with 100,000 (--quick: 20,000) revoked
      certificates read from the database (and stored) vs. the raw list build (entries built +
      constructor + sign) from the same revocations in memory.  Target: each <= 1.5x.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import NameOID

from domain.pki.crl import Revocation, build_crl
from domain.pki.csr import parse_csr
from domain.pki.extensions import aki, random_serial
from domain.pki.hierarchy import CaSigner, create_hierarchy, load_signer
from domain.pki.lint import signature_hash
from domain.pki.ocsp import CertStatus, build_response, parse_request
from domain.pki.profiles import (
    OrganisationSubject,
    generate_login_key,
    issue_login_certificate,
    issue_server_certificate,
    to_pkcs12,
)

URL = "http://pki.certdesk-test.com"
SUBJECT = OrganisationSubject(country="DE", organisation="Shop GmbH", state="Berlin", locality="Berlin")
REASONS = [
    None,
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.affiliation_changed,
    x509.ReasonFlags.privilege_withdrawn,
]


@dataclass
class Row:
    section: str
    ours: str
    baseline: str
    ours_s: list[float]
    base_s: list[float]
    per_second: bool = False  # show throughput rather than time

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours_s) / statistics.median(self.base_s)


def timed(fn: Callable[[], object], number: int) -> float:
    """Seconds per call, averaged over `number` calls."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def paired(
    ours: Callable[[], object], baseline: Callable[[], object], repeats: int, number: int = 1
) -> tuple[list[float], list[float]]:
    ours_s, base_s = interleaved([ours, baseline], repeats, number)
    return ours_s, base_s


def interleaved(fns: list[Callable[[], object]], repeats: int, number: int = 1, warm: bool = True) -> list[list[float]]:
    """Per-call seconds of each fn, once per repeat, rotating which runs first."""
    for fn in fns if warm else []:
        fn()  # warm caches (validators, throwaway keys) outside the timing
    samples: list[list[float]] = [[] for _ in fns]
    for i in range(repeats):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            samples[j].append(timed(fns[j], number))
    return samples


def same_certificate(cert: x509.Certificate) -> x509.CertificateBuilder:
    """A builder for exactly `cert`'s TBS content."""
    return x509.CertificateBuilder(
        issuer_name=cert.issuer,
        subject_name=cert.subject,
        public_key=cert.public_key(),  # type: ignore[arg-type]
        serial_number=cert.serial_number,
        not_valid_before=cert.not_valid_before_utc,
        not_valid_after=cert.not_valid_after_utc,
        extensions=list(cert.extensions),
    )


def bench_server(ca: CaSigner, now: datetime, repeats: int) -> Row:
    key = ec.generate_private_key(ec.SECP256R1())
    csr_obj = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.shop.de")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.shop.de")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    csr = parse_csr(csr_obj.public_bytes(Encoding.PEM))
    builder = same_certificate(issue_server_certificate(csr, SUBJECT, ca, URL, now, 90))
    algorithm = signature_hash(ca.private_key)
    ours, base = paired(
        lambda: issue_server_certificate(csr, SUBJECT, ca, URL, now, 90),
        lambda: builder.sign(ca.private_key, algorithm),
        repeats,
        number=10,
    )
    return Row("(a) server", "issue_server_certificate (lint)", "CertificateBuilder.sign", ours, base)


def bench_login(ca: CaSigner, root: CaSigner, now: datetime, repeats: int) -> Row:
    chain = [ca.certificate, root.certificate]

    def ours() -> bytes:
        key = generate_login_key("ec")
        cert = issue_login_certificate("alice@shop.de", key, ca, URL, now)
        return to_pkcs12(cert, key, chain, "correct horse battery staple")

    builder = same_certificate(issue_login_certificate("alice@shop.de", generate_login_key("ec"), ca, URL, now))
    algorithm = signature_hash(ca.private_key)
    ours_s, base_s = paired(ours, lambda: builder.sign(ca.private_key, algorithm), repeats)
    return Row("(b) login", "keygen+issue+PKCS#12 600k", "CertificateBuilder.sign", ours_s, base_s)


def revocations(count: int, now: datetime) -> list[Revocation]:
    return [Revocation(random_serial(), now - timedelta(minutes=i), REASONS[i % len(REASONS)]) for i in range(count)]


def entries_of(revoked: list[Revocation]) -> list[x509.RevokedCertificate]:
    entries = []
    for r in revoked:
        builder = x509.RevokedCertificateBuilder().serial_number(r.serial).revocation_date(r.revoked_at)
        if r.reason is not None:
            builder = builder.add_extension(x509.CRLReason(r.reason), critical=False)
        entries.append(builder.build())
    return entries


def bench_crl(ca: CaSigner, now: datetime, count: int, repeats: int, with_loop: bool) -> list[Row]:
    revoked = revocations(count, now.replace(microsecond=0))
    prebuilt = entries_of(revoked)
    algorithm = signature_hash(ca.private_key)
    extensions = [
        x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)),
        x509.Extension(x509.AuthorityKeyIdentifier.oid, False, aki(ca.private_key.public_key())),
    ]
    this_update = now.replace(microsecond=0)

    def bare(entries: list[x509.RevokedCertificate]) -> x509.CertificateRevocationList:
        return x509.CertificateRevocationListBuilder(
            issuer_name=ca.certificate.subject,
            last_update=this_update,
            next_update=this_update + timedelta(days=7),
            extensions=extensions,
            revoked_certificates=entries,
        ).sign(ca.private_key, algorithm)

    def ours() -> x509.CertificateRevocationList:
        return build_crl(ca, revoked, crl_number=1, this_update=now)

    def loop() -> x509.CertificateRevocationList:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.certificate.subject)
            .last_update(this_update)
            .next_update(this_update + timedelta(days=7))
            .add_extension(extensions[0].value, critical=False)
            .add_extension(extensions[1].value, critical=False)
        )
        for entry in prebuilt:
            builder = builder.add_revoked_certificate(entry)
        return builder.sign(ca.private_key, algorithm)

    label = f"(c) CRL {count:,}"
    fns = [ours, lambda: bare(prebuilt), lambda: bare(entries_of(revoked))]
    if with_loop:
        fns.append(loop)
    # The 10,000 run has warmed the CRL lint validator; skip the (slow) extra warm-up at 100,000.
    ours_s, prebuilt_s, building_s, *loop_s = interleaved(fns, repeats, warm=with_loop)
    rows = [
        Row(label, "build_crl", "ctor(entries)+sign, entries prebuilt", ours_s, prebuilt_s),
        Row(label, "build_crl", "build entries + ctor+sign", ours_s, building_s),
    ]
    if with_loop:
        rows.append(
            Row(label, "add_revoked_certificate loop", "ctor(entries)+sign, entries prebuilt", loop_s[0], prebuilt_s)
        )
    return rows


def bench_ocsp(ca: CaSigner, responder: CaSigner, now: datetime, repeats: int, number: int) -> list[Row]:
    from domain.pki.lint import lint_ocsp_response

    # Any certificate of the CA will do for the CertID; the responder's own is at hand.
    request = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(responder.certificate, ca.certificate, hashes.SHA256())
        .add_extension(x509.OCSPNonce(b"\x5a" * 16), critical=False)
        .build()
        .public_bytes(Encoding.DER)
    )
    query = parse_request(request)
    status = CertStatus.revoked(now - timedelta(hours=1), x509.ReasonFlags.key_compromise)
    this_update = now.replace(microsecond=0)
    algorithm = signature_hash(responder.private_key)

    def bare() -> bytes:
        return (
            x509_ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                query.issuer_name_hash,
                query.issuer_key_hash,
                query.serial,
                query.hash_algorithm,
                x509_ocsp.OCSPCertStatus.REVOKED,
                this_update,
                this_update + timedelta(days=4) - timedelta(seconds=1),
                (now - timedelta(hours=1)).replace(microsecond=0),
                x509.ReasonFlags.key_compromise,
            )
            .responder_id(x509_ocsp.OCSPResponderEncoding.HASH, responder.certificate)
            .certificates([responder.certificate])
            .add_extension(x509.OCSPNonce(query.nonce or b""), critical=False)
            .sign(responder.private_key, algorithm)
            .public_bytes(Encoding.DER)
        )

    def ours() -> bytes:
        return build_response(parse_request(request), status, ca.certificate, responder, now)

    def shape(der: bytes) -> tuple[object, ...]:
        r = x509_ocsp.load_der_ocsp_response(der)
        return (
            r.certificate_status,
            r.serial_number,
            r.this_update_utc,
            r.next_update_utc,
            r.revocation_time_utc,
            r.revocation_reason,
            r.responder_key_hash,
            r.certificates,
            list(r.extensions),
        )

    if shape(ours()) != shape(bare()):
        raise RuntimeError("the bare OCSP baseline does not build the same response")
    ours_s, base_s = paired(ours, bare, repeats, number)
    rows = [
        Row("(d) OCSP", "parse_request+build_response", "OCSPResponseBuilder.sign", ours_s, base_s, per_second=True)
    ]
    ours_s, base_s = paired(lambda: lint_ocsp_response(ours()), bare, repeats, max(1, number // 20))
    rows.append(Row("(d) OCSP", "... + lint_ocsp_response", "OCSPResponseBuilder.sign", ours_s, base_s, True))
    return rows


def _database(url: str | None, directory: str) -> tuple[Any, Any]:
    """A migrated database with the hierarchy made by certdesk itself (keys in a file key store)."""
    from pydantic import SecretStr

    from ca import authority
    from domain.settings import Settings
    from store.db import make_engine, migrate

    url = url or f"sqlite:///{directory}/bench.db"
    engine = make_engine(url)
    migrate(engine)
    settings = Settings(data_dir=directory, database_url=url, public_url=URL, ca_passphrase=SecretStr("bench " * 4))
    authority.ensure_hierarchy(engine, settings)
    return engine, settings


def server_csr(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def bench_issuance(engine: Any, settings: Any, repeats: int, number: int) -> Row:
    from ca import authority
    from domain.pki.hierarchy import TLS_CA
    from domain.pki.lint import LintProfile, lint_certificate

    ca = authority.signer(engine, settings, TLS_CA)
    csrs = iter([server_csr(f"www{i}.shop.de") for i in range((repeats + 1) * number)])
    keys = iter(range(10**9))
    cert = x509.load_pem_x509_certificate(
        authority.issue_server(engine, settings, "bench:first", next(csrs), SUBJECT, 90, "bench").pem.encode()
    )
    builder = same_certificate(cert)
    algorithm = signature_hash(ca.private_key)

    def sign_and_lint() -> None:
        der = builder.sign(ca.private_key, algorithm).public_bytes(Encoding.DER)
        if lint_certificate(der, LintProfile.OV):
            raise RuntimeError("the baseline certificate does not lint clean")

    ours, base = paired(
        lambda: authority.issue_server(engine, settings, f"bench:{next(keys)}", next(csrs), SUBJECT, 90, "bench"),
        sign_and_lint,
        repeats,
        number=number,
    )
    return Row("(e) issuance", "authority.issue_server (db)", "sign + one lint_certificate", ours, base)


def bench_crl_from_database(engine: Any, settings: Any, count: int, repeats: int) -> Row:
    from sqlalchemy import insert

    from ca import authority
    from domain.pki.hierarchy import TLS_CA
    from store.models import CertificateRecord

    ca = authority.signer(engine, settings, TLS_CA)
    now = datetime.now(UTC).replace(microsecond=0)
    revoked = revocations(count, now)
    stored_reasons = {None: "unspecified"} | {r: r.value for r in REASONS if r is not None}
    rows = [
        {"serial": format(r.serial, "x"), "issuer": TLS_CA, "request_key": f"bench-crl:{i}", "kind": "server",
         "product": "ov", "display_name": "www.shop.de", "names": ["www.shop.de"], "state": "revoked",
         "not_before": now - timedelta(days=30), "not_after": now + timedelta(days=60), "revoked_at": r.revoked_at,
         "revocation_reason": stored_reasons[r.reason], "revoked_by": "bench", "created_at": now}
        for i, r in enumerate(revoked)
    ]
    with engine.begin() as conn:
        conn.execute(insert(CertificateRecord.__table__), rows)  # type: ignore[attr-defined]
    algorithm = signature_hash(ca.private_key)
    aki_extension = x509.Extension(x509.AuthorityKeyIdentifier.oid, False, aki(ca.private_key.public_key()))

    def raw() -> x509.CertificateRevocationList:
        return x509.CertificateRevocationListBuilder(
            issuer_name=ca.certificate.subject,
            last_update=now,
            next_update=now + timedelta(days=7),
            extensions=[x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)), aki_extension],
            revoked_certificates=entries_of(revoked),
        ).sign(ca.private_key, algorithm)

    ours, base = interleaved([lambda: authority.publish_crl(engine, settings, TLS_CA), raw], repeats)
    return Row(f"(e) CRL {count:,}", "publish_crl (db read+lint+sign+store)", "entries built + ctor+sign", ours,
               base)


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def fmt(seconds: float, per_second: bool) -> str:
    return f"{1 / seconds:,.0f}/s" if per_second else fmt_time(seconds)


def print_table(rows: list[Row]) -> None:
    header = ("section", "ours", "median", "baseline", "median", "ratio")
    lines = [
        (
            r.section,
            r.ours,
            fmt(statistics.median(r.ours_s), r.per_second),
            r.baseline,
            fmt(statistics.median(r.base_s), r.per_second),
            f"{r.ratio:,.1f}x" + (" slower" if r.per_second else ""),
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
    for i, line in enumerate([header, *lines]):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough look in ~30 s)")
    parser.add_argument("--only", choices=["issuance"], help="only section (e), the issue #18 target 4 ratios")
    parser.add_argument("--database-url", help="for (e); default: a SQLite file in a temporary directory")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    started = time.perf_counter()
    now = datetime.now(UTC)
    hierarchy = create_hierarchy(URL, "certdesk bench CA", now - timedelta(days=1), "bench")
    signers = {entry.name: load_signer(entry, "bench") for entry in hierarchy.entries}
    ca, responder = signers["server-ca"], signers["server-ocsp"]

    rows: list[Row] = []
    sections: list[Callable[[], list[Row]]] = [
        lambda: [bench_server(ca, now, repeats)],
        lambda: [bench_login(signers["login-ca"], signers["client-root"], now, repeats)],
        lambda: bench_crl(ca, now, 10_000, repeats, with_loop=True),
        lambda: bench_crl(ca, now, 100_000, 3 if args.quick else 5, with_loop=False),
        lambda: bench_ocsp(ca, responder, now, repeats, 100 if args.quick else 300),
    ]
    workdir = tempfile.TemporaryDirectory(prefix="certdesk-bench-")
    engine, settings = _database(args.database_url, workdir.name)
    target_rows = [
        lambda: [bench_issuance(engine, settings, repeats, 10 if args.quick else 20)],
        lambda: [bench_crl_from_database(engine, settings, 20_000 if args.quick else 100_000, 3 if args.quick else 5)],
    ]
    sections = target_rows if args.only else sections + target_rows
    for section in sections:
        new_rows = section()
        rows += new_rows
        print(f"... {new_rows[0].section} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    print(
        f"\nmedians of {repeats} paired repeats (CRL 100,000: {3 if args.quick else 5}); "
        "ratio = median(ours) / median(baseline)"
    )
    print_table(rows)
    print("\nissue #18 target 4 (<= 1.5x):")
    for row in rows:
        if row.section.startswith("(e)"):
            print(f"  {row.section}: {row.ours} / ({row.baseline}) = {row.ratio:.2f}x"
                  + ("" if row.ratio <= 1.5 else "  -- over target"))
    engine.dispose()
    workdir.cleanup()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
