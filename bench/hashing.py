"""What each kind of secret costs to hash and verify (issue 18), as a ratio to argon2id in the same run.

    .venv/bin/python bench/hashing.py [--repeats 20] [--burst]

Kinds: argon2id (passwords, secret answers: the reference), the one-time password's HMAC-SHA256
under the server key, the download password's keyed BLAKE2b, a pre-issue-18 argon2 hash verified
through the same verifier, and the PKCS#12 export at the old (600,000) and new PBKDF2 counts. Last,
a login-certificate registration's hashing work before issue 18 (argon2id five times and PKCS#12
at 600,000) and now. Medians of ``--repeats`` runs; the machine is shared and noisy, so the ratios
travel better than the absolute times.

``--burst`` also serves the app (uvicorn, a temporary SQLite database) and times a cheap request,
``GET /pki/login-ca.crt``, alone and while 16 wrong staff logins are in flight: with the logins'
argon2 in ``api.hashing_pool``, and as before issue 18 (run inline, on the event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain import credentials  # noqa: E402
from domain import secret_hashing as sh  # noqa: E402
from domain.pki import profiles  # noqa: E402

OLD_PKCS12_ROUNDS = 600_000


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _certificate() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert, key


def _pkcs12_at(rounds: int, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, password: str) -> bytes:
    kept = profiles.PKCS12_KDF_ROUNDS
    profiles.PKCS12_KDF_ROUNDS = rounds
    try:
        return profiles.to_pkcs12(cert, key, [], password)
    finally:
        profiles.PKCS12_KDF_ROUNDS = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--burst", action="store_true", help="also time a cheap request during 16 wrong logins")
    options = parser.parse_args()
    repeats = options.repeats

    keys = sh.HashingKeys.from_passphrase("bench passphrase")
    otp, download, answer = "48151623", credentials.new_download_password(), "たなか"
    chosen, code = sh.hash_chosen(answer), sh.hash_code(keys, otp)
    random_hash, old_argon2 = sh.hash_random(keys, download), credentials.hash_password(otp)
    cert, key = _certificate()

    rows: list[tuple[str, Callable[[], object]]] = [
        ("argon2id hash (password, secret answer)", lambda: sh.hash_chosen(answer)),
        ("argon2id verify", lambda: sh.verify_chosen(chosen, answer)),
        ("one-time password: HMAC-SHA256 hash", lambda: sh.hash_code(keys, otp)),
        ("one-time password: HMAC-SHA256 verify", lambda: sh.verify_code(keys, code, otp)),
        ("download password: keyed BLAKE2b hash", lambda: sh.hash_random(keys, download)),
        ("download password: keyed BLAKE2b verify", lambda: sh.verify_random(keys, random_hash, download)),
        ("old argon2 one-time password verify", lambda: sh.verify_code(keys, old_argon2, otp)),
        (f"PKCS#12 at {OLD_PKCS12_ROUNDS:,} rounds (before)",
         lambda: _pkcs12_at(OLD_PKCS12_ROUNDS, cert, key, download)),
        (f"PKCS#12 at {profiles.PKCS12_KDF_ROUNDS:,} rounds (now)",
         lambda: _pkcs12_at(profiles.PKCS12_KDF_ROUNDS, cert, key, download)),
    ]
    measured = {name: median_seconds(work, repeats) for name, work in rows}
    reference = measured["argon2id verify"]

    print(f"median of {repeats} runs; ratio = time / argon2id verify ({reference * 1000:.1f} ms)\n")
    print(f"{'':46} {'time':>12} {'ratio':>10}")
    for name, seconds in measured.items():
        print(f"{name:46} {seconds * 1e6:>9.1f} µs {seconds / reference:>10.5f}")

    argon_hash, argon_verify = measured["argon2id hash (password, secret answer)"], reference
    before = 3 * argon_hash + 2 * argon_verify + measured[f"PKCS#12 at {OLD_PKCS12_ROUNDS:,} rounds (before)"]
    now = (argon_hash + measured["one-time password: HMAC-SHA256 hash"]
           + measured["one-time password: HMAC-SHA256 verify"]
           + measured["download password: keyed BLAKE2b hash"] + measured["download password: keyed BLAKE2b verify"]
           + measured[f"PKCS#12 at {profiles.PKCS12_KDF_ROUNDS:,} rounds (now)"])
    print("\nlogin-certificate registration, hashing and PKCS#12 work:")
    print(f"  before (argon2id x5 + PKCS#12 600,000): {before * 1000:8.1f} ms  ({before / reference:.1f} argon2id)")
    print(f"  now (argon2id x1 + keyed hashes + PKCS#12 {profiles.PKCS12_KDF_ROUNDS:,}): "
          f"{now * 1000:8.1f} ms  ({now / reference:.1f} argon2id), {before / now:.1f}x less")
    if options.burst:
        burst(5)


async def _cheap_request_times(base: str, rounds: int) -> tuple[float, float]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        await http.get("/pki/login-ca.crt")
        alone, during = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            await http.get("/pki/login-ca.crt")
            alone.append(time.perf_counter() - start)
        for n in range(rounds):
            logins = [asyncio.ensure_future(http.post("/api/v1/staff/session",
                                                      json={"username": f"nobody-{n}-{i}", "password": "wrong"}))
                      for i in range(16)]
            await asyncio.sleep(0.05)  # the logins are in
            start = time.perf_counter()
            await http.get("/pki/login-ca.crt")
            during.append(time.perf_counter() - start)
            assert {r.status_code for r in await asyncio.gather(*logins)} == {401}
            with ENGINE.begin() as conn:  # 16 more would pass the address's limit of failures
                conn.exec_driver_sql("DELETE FROM login_throttle")
    return statistics.median(alone), statistics.median(during)


ENGINE = None


def burst(rounds: int) -> None:
    global ENGINE
    import uvicorn
    from pydantic import SecretStr

    from api import throttle
    from api.app import create_app
    from domain.settings import Settings
    from store.db import make_engine, migrate

    folder = Path(tempfile.mkdtemp(prefix="certdesk-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    ENGINE = make_engine(url)
    migrate(ENGINE)
    settings = Settings(data_dir=folder, database_url=url, ca_passphrase=SecretStr("bench passphrase"))
    pooled = throttle.hashing_pool

    async def inline(fn: Callable[..., object], *args: object) -> object:
        return fn(*args)

    print("\nGET /pki/login-ca.crt (uvicorn, SQLite), median of", rounds, "rounds:")
    for label, pool in (("argon2 in api.hashing_pool (now)", pooled),
                        ("argon2 on the event loop (before)", types.SimpleNamespace(run=inline))):
        throttle.hashing_pool = pool  # type: ignore[assignment]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        alone, during = asyncio.run(_cheap_request_times(f"http://127.0.0.1:{port}", rounds))
        server.should_exit = True
        thread.join()
        print(f"  {label:36} alone {alone * 1000:7.1f} ms, with 16 wrong logins in flight {during * 1000:8.1f} ms")
    throttle.hashing_pool = pooled


if __name__ == "__main__":
    main()
