"""OCSP over HTTP (issue #18 target 3): responses/s and p99 with wrk, against the raw build+sign rate.

    .venv/bin/python bench/ocsp_http.py [--seconds 10] [--connections 16] [--workers 1] [--profile FILE]

Makes a temporary SQLite database with certdesk's hierarchy, issues one server certificate
(which signs its OCSP response ahead), starts the API under uvicorn on a free port, and runs
``wrk`` (Debian's package: apt-get install -y wrk) POSTing the DER of a nonce-less OCSP request
for that certificate; then the same with GET (RFC 6960 A.1). The baseline, timed in this run
and process, before and after the runs (the machine is shared): building and signing the same
response with ``cryptography`` alone (OCSPResponseBuilder + sign, one core). Target: >= 2x that
rate, p99 < 10 ms. ``--profile`` runs the server under cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ca import authority  # noqa: E402
from domain.pki.hierarchy import RESPONDER_OF, TLS_CA  # noqa: E402
from domain.pki.lint import signature_hash  # noqa: E402
from domain.pki.profiles import OrganisationSubject  # noqa: E402
from domain.settings import Settings  # noqa: E402
from store import certificates, ocsp_responder  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402

URL = "http://pki.certdesk-test.com"
PASSPHRASE = "ocsp bench passphrase"  # noqa: S105 (a throwaway database)
LUA = """
wrk.method = "{method}"
wrk.headers["Content-Type"] = "application/ocsp-request"
{body}
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%f p50_us=%d p99_us=%d errors=%d non2xx=%d\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


# uvicorn raises SIGTERM again once it has stopped: exit by SystemExit then, so the stats are written.
PROFILED_SERVER = """
import cProfile, signal, sys, uvicorn
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
profile = cProfile.Profile()
profile.enable()
try:
    uvicorn.run("api.app:create_app", factory=True, host="127.0.0.1", port={port}, log_level="warning",
                access_log=False)
finally:
    profile.disable()
    profile.dump_stats({path!r})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raw_rate(engine: object, settings: Settings, request_der: bytes, seconds: float) -> float:
    """Responses/s for OCSPResponseBuilder + sign of the same response, in this process."""
    query = x509_ocsp.load_der_ocsp_request(request_der)
    responder = ocsp_responder.responder(engine, settings, RESPONDER_OF[TLS_CA])  # type: ignore[arg-type]
    algorithm = signature_hash(responder.private_key)

    def build() -> bytes:
        now = datetime.now(UTC).replace(microsecond=0)
        return (
            x509_ocsp.OCSPResponseBuilder()
            .add_response_by_hash(query.issuer_name_hash, query.issuer_key_hash, query.serial_number,
                                  query.hash_algorithm, x509_ocsp.OCSPCertStatus.GOOD, now,
                                  now + timedelta(days=4) - timedelta(seconds=1), None, None)
            .responder_id(x509_ocsp.OCSPResponderEncoding.HASH, responder.certificate)
            .certificates([responder.certificate])
            .sign(responder.private_key, algorithm)
            .public_bytes(Encoding.DER)
        )

    build()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            build()
        count += 50
    return count / (time.perf_counter() - start)


def run_wrk(url: str, lua: str, seconds: int, connections: int, directory: Path) -> dict[str, float]:
    script = directory / "ocsp.lua"
    script.write_text(lua)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s",
                          str(script), url], capture_output=True, text=True, check=True)
    found = re.search(r"RESULT (.*)", out.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    values = {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    values["rate"] = values["requests"] / values["seconds"]
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, write its stats here and "
                                                     "print the top functions (one worker)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="certdesk-ocsp-bench-") as tmp:
        directory = Path(tmp)
        database_url = f"sqlite:///{directory / 'certdesk.db'}"
        engine = make_engine(database_url)
        migrate(engine)
        settings = Settings(data_dir=directory, database_url=database_url, public_url=URL,
                            ca_passphrase=SecretStr(PASSPHRASE))
        authority.ensure_hierarchy(engine, settings)
        key_csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).add_extension(
            x509.SubjectAlternativeName([x509.DNSName("www.ocsp-bench.co.jp")]), critical=False)
        from cryptography.hazmat.primitives.asymmetric import ec

        csr = key_csr.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()).public_bytes(Encoding.PEM)
        issued = authority.issue_server(engine, settings, "bench:ocsp", csr.decode(),
                                        OrganisationSubject("JP", "Bench KK", "Tokyo"), 90, "bench")
        leaf = x509.load_pem_x509_certificate(issued.pem.encode())
        issuer = certificates.ca_certificate(engine, TLS_CA)
        assert issuer is not None
        request = (x509_ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()  # noqa: S303
                   .public_bytes(Encoding.DER))
        baseline = raw_rate(engine, settings, request, 3.0)

        port = free_port()
        env = {**os.environ, "CERTDESK_DATA_DIR": str(directory), "CERTDESK_DATABASE_URL": database_url,
               "CERTDESK_PUBLIC_URL": URL, "CERTDESK_CA_PASSPHRASE": PASSPHRASE}
        command = ["-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"]
        if args.profile:
            command = ["-c", PROFILED_SERVER.format(port=port, path=str(args.profile.resolve()))]
        server = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    check = httpx.post(f"{base}/ocsp", content=request, timeout=5)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the API did not start") from None
                    time.sleep(0.2)
            answer = x509_ocsp.load_der_ocsp_response(check.content)
            assert answer.certificate_status == x509_ocsp.OCSPCertStatus.GOOD, answer.response_status
            print(f"response headers: Cache-Control: {check.headers.get('cache-control')}; "
                  f"ETag: {check.headers.get('etag')}; Expires: {check.headers.get('expires')}")
            body = "".join(f"\\{b:03d}" for b in request)
            encoded = base64.b64encode(request).decode().replace("/", "%2F").replace("+", "%2B")
            runs = {
                "POST": run_wrk(f"{base}/ocsp", LUA.format(method="POST", body=f'wrk.body = "{body}"'),
                                args.seconds, args.connections, directory),
                "GET": run_wrk(f"{base}/ocsp/{encoded}", LUA.format(method="GET", body=""), args.seconds,
                               args.connections, directory),
            }
        finally:
            server.terminate()
            server.wait(15)
        # Timed again after the runs: on a shared machine the load moves, and the spread shows it.
        after = raw_rate(engine, settings, request, 3.0)
        engine.dispose()  # type: ignore[attr-defined]
    print(f"\nraw OCSPResponseBuilder + sign (one core, this run): {baseline:,.0f}/s before, {after:,.0f}/s after "
          f"(ratios below against their mean; against each: see the range)")
    low, high = min(baseline, after), max(baseline, after)
    baseline = (baseline + after) / 2
    print(f"wrk: {args.connections} connections, {args.seconds} s, {args.workers} uvicorn worker(s), "
          f"{os.cpu_count()} cores")
    for method, r in runs.items():
        print(f"  {method:4s} {r['rate']:8,.0f} responses/s  ratio {r['rate'] / baseline:.2f}x (target >= 2x)  "
              f"p50 {r['p50_us'] / 1000:.1f} ms  p99 {r['p99_us'] / 1000:.1f} ms (target < 10 ms)  "
              f"errors {r['errors']:.0f}, non-2xx {r['non2xx']:.0f}  "
              f"(ratio range {r['rate'] / high:.2f}-{r['rate'] / low:.2f}x)")
    if args.profile:
        import pstats

        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
