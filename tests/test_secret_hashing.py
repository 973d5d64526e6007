"""Secrets hashed by what they are (issue 18): each kind's stored form and verdicts, the hashes made
before (argon2id) still verifying, what a stolen database alone gives, and argon2 off the event loop
through a bounded pool."""

import asyncio
import hashlib
import threading
from collections.abc import Callable

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from api import hashing_pool
from api.app import create_app
from domain import credentials
from domain import enrollment as e
from domain import secret_hashing as sh
from domain.settings import Settings

KEYS = sh.HashingKeys.from_passphrase("the server's configured passphrase")
OTHER_KEYS = sh.HashingKeys.from_passphrase("another passphrase")
OTP = "48151623"
DOWNLOAD = "AbcDe-fGhJk-MnPqR-sTuVw"
ANSWER = "たなか"

# kind: (hash, verify, secret, prefix of the stored form)
KINDS: dict[str, tuple[Callable[[str], str], Callable[[str, str], sh.Verdict], str, str]] = {
    "one-time password": (lambda s: sh.hash_code(KEYS, s), lambda h, s: sh.verify_code(KEYS, h, s),
                          OTP, f"hmac-sha256${sh.key_id(KEYS.codes)}$"),
    "download password": (lambda s: sh.hash_random(KEYS, s), lambda h, s: sh.verify_random(KEYS, h, s),
                          DOWNLOAD, f"blake2b-256${sh.key_id(KEYS.random)}$"),
    "secret answer": (sh.hash_chosen, sh.verify_chosen, ANSWER, "$argon2id$"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_stores_a_self_describing_hash_that_verifies_only_its_secret(kind: str) -> None:
    hash_, verify, secret, prefix = KINDS[kind]
    stored = hash_(secret)
    assert stored.startswith(prefix) and secret not in stored and len(stored) <= 200  # the columns' size
    assert verify(stored, secret) == sh.Verdict(True, rehash=False)
    for wrong in {secret[:-1], secret + "x", secret.upper(), secret.lower(), " " + secret, ""} - {secret}:
        assert verify(stored, wrong) == sh.Verdict(False)
    for garbage in ("", "not a hash", prefix, stored[:-1], stored + "0"):
        assert not verify(garbage, secret).ok


@pytest.mark.parametrize(("kind", "slow"), [("one-time password", False), ("download password", False),
                                            ("secret answer", True)])
def test_only_human_chosen_secrets_need_the_pool(kind: str, slow: bool) -> None:
    hash_, _, secret, _ = KINDS[kind]
    assert sh.is_slow(hash_(secret)) is slow


@pytest.mark.parametrize("kind", ["one-time password", "download password"])
def test_argon2_hashes_made_before_keep_verifying_and_say_rehash(kind: str) -> None:
    _, verify, secret, _ = KINDS[kind]
    old = credentials.hash_password(secret)  # what api/enrollments.py and the download step stored before
    assert sh.is_slow(old)
    assert verify(old, secret) == sh.Verdict(True, rehash=True)
    assert verify(old, secret + "x") == sh.Verdict(False)


def test_a_kind_never_verifies_as_another() -> None:
    assert not sh.verify_random(KEYS, sh.hash_code(KEYS, DOWNLOAD), DOWNLOAD).ok
    assert not sh.verify_code(KEYS, sh.hash_random(KEYS, OTP), OTP).ok
    assert not sh.verify_chosen(sh.hash_code(KEYS, OTP), OTP).ok


def test_a_password_hashed_at_a_lower_cost_verifies_and_asks_to_be_rehashed() -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("correct horse battery")
    assert sh.verify_chosen(cheap, "correct horse battery") == sh.Verdict(True, rehash=True)
    assert sh.verify_chosen(cheap, "wrong") == sh.Verdict(False)


def test_a_stolen_database_alone_does_not_reveal_a_one_time_password() -> None:
    """An 8-digit code has 9*10^7 values: searched in a minute against any unkeyed fast hash. The row
    holds only an HMAC under a key derived from configuration; without that key no candidate matches."""
    stored = sh.hash_code(KEYS, OTP)
    candidates = [str(n) for n in range(48_150_000, 48_160_000)]  # a slice of the space that holds the code
    # The thief's guesses: the digest unkeyed, keys from guessable passphrases, another installation's key.
    guessed = [sh.HashingKeys.from_passphrase(p) for p in ("", "certdesk", "changeme")]
    thieves: list[Callable[[str], str]] = [
        lambda c: hashlib.sha256(c.encode()).hexdigest(),
        *[lambda c, k=k: sh.hash_code(k, c).rsplit("$", 1)[1] for k in guessed],
    ]
    digest = stored.rsplit("$", 1)[1]
    for thief in thieves:
        assert not any(thief(c) == digest for c in candidates)
    assert not any(sh.verify_code(OTHER_KEYS, stored, c).ok for c in candidates)
    # With the server's key the same search finds it: the key, not the code's length, is what protects it.
    assert [c for c in candidates if sh.verify_code(KEYS, stored, c).ok] == [OTP]


def test_the_keys_are_derived_and_named_not_the_passphrase() -> None:
    passphrase = "the server's configured passphrase"
    assert KEYS.codes != KEYS.random and passphrase.encode() not in KEYS.codes + KEYS.random
    assert sh.key_id(KEYS.codes) != sh.key_id(OTHER_KEYS.codes)
    assert KEYS.codes != e.link_key(passphrase)  # a key of its own, not the link tokens' one


# --- the pool ---------------------------------------------------------------------------------------

async def test_the_pool_bounds_how_many_hashes_run_at_once_and_counts_the_queue() -> None:
    lock, running, peak = threading.Lock(), [0], [0]
    release = threading.Event()

    def hash_slowly(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait()
        with lock:
            running[0] -= 1
        return n

    many = hashing_pool.size() + 4  # more than the pool runs at once, whatever the machine
    jobs = [asyncio.ensure_future(hashing_pool.run(hash_slowly, n)) for n in range(many)]
    while hashing_pool.in_use() < hashing_pool.size():
        await asyncio.sleep(0.01)
    assert hashing_pool.in_use() == hashing_pool.size()
    assert hashing_pool.queue_depth() == 4
    release.set()
    assert await asyncio.gather(*jobs) == list(range(many))
    assert peak[0] == hashing_pool.size() and hashing_pool.queue_depth() == 0 and hashing_pool.in_use() == 0


async def test_a_job_given_up_while_queued_leaves_the_counts_right() -> None:
    release = threading.Event()
    busy = [asyncio.ensure_future(hashing_pool.run(release.wait)) for _ in range(hashing_pool.size())]
    while hashing_pool.in_use() < hashing_pool.size():
        await asyncio.sleep(0.01)
    queued = asyncio.ensure_future(hashing_pool.run(release.wait))
    await asyncio.sleep(0)
    assert hashing_pool.queue_depth() == 1
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert hashing_pool.queue_depth() == 0
    release.set()
    await asyncio.gather(*busy)
    assert hashing_pool.in_use() == 0


async def test_cheap_requests_are_answered_while_a_burst_of_wrong_logins_hashes(settings: Settings,
                                                                              engine: Engine) -> None:
    """16 wrong staff logins at once (argon2id each, real cost): a page asked after them is answered
    while most of them still wait for the pool; before issue 18 each ran on the event loop."""
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("192.0.2.40", 40000)),
                                 base_url="http://burst.test") as http:
        await http.get("/desk/login")  # the app's first request sets things up; not what is compared
        logins = [asyncio.ensure_future(http.post("/api/v1/staff/session",
                                                  json={"username": f"nobody-{n}", "password": "wrong guess"}))
                  for n in range(16)]
        while hashing_pool.in_use() == 0 and not all(login.done() for login in logins):
            await asyncio.sleep(0.01)
        page = await http.get("/desk/login")
        pending_when_answered = sum(not login.done() for login in logins)
        assert page.status_code == 200
        assert hashing_pool.in_use() <= hashing_pool.size()
        assert pending_when_answered >= 8, pending_when_answered
        assert [r.status_code for r in await asyncio.gather(*logins)] == [401] * 16
    assert hashing_pool.queue_depth() == 0 and hashing_pool.in_use() == 0
