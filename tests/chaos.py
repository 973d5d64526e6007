"""Crashes while people are in the middle of things: a second worker (``python -m certdesk.worker``,
polling beside the one in ``certdesk up``) and then ``certdesk up`` itself with everything it
started are killed with SIGKILL at random moments, in turn, while login-certificate registrations,
server-certificate applications and password resets are in flight; each person simply retries what
failed, as people do. Afterwards every process has completed, each issuance made exactly one
certificate and each business event at most one e-mail. Nobody is stranded (issue 15): a secret step
whose answer a crash cut off is sent again from the same browser and gives the same download password.

Used by ``tests/test_chaos.py`` (small, in CI) and ``bench/chaos.py`` (larger runs).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlmodel import select

from domain import enrollment as e
from store.db import make_engine, session_scope
from store.models import Application, AuditEvent, CertificateRecord, Enrollment
from tests.conftest import free_port
from tests.stack import Stack, cli_json, stack_env
from tests.test_certificate_authority import make_csr

PASSWORD = "a much better passphrase"
DELAYED_REVOCATION = 15  # seconds: "two weeks later", shortened so that the timer fires during the run
STAFF_PASSWORD = "chaos staff passphrase"


class Down(Exception):
    """The stack did not answer (it is being killed or restarted): try again."""


@dataclass
class Report:
    registrations: int = 0
    downloaded: int = 0
    # Secret steps answered again: a crash cut the answer off after the step took effect (the
    # database showed its credentials registered) and the same browser's retry got the password.
    answered_again: int = 0
    applications: int = 0
    issued: int = 0
    resets: int = 0
    reset_mailed: int = 0
    reissued: int = 0
    superseded: list[str] = field(default_factory=list)  # serials a reissue revokes after the wait
    kills: int = 0
    worker_kills: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


class People:
    """What the people do, over HTTP, retrying whatever the crash cut off."""

    def __init__(self, stack: Stack, report: Report, deadline: float, engine: Engine) -> None:
        self.stack, self.report, self.deadline, self.engine = stack, report, deadline, engine

    def call(self, what: str, method: str, path: str, browser: httpx.Client | None = None,
             **kw: object) -> httpx.Response:
        """``browser``: a person's own client, keeping the cookies a step sets (the end user's step cookie)."""
        while time.monotonic() < self.deadline:
            try:
                r = (browser or httpx).request(method, f"{self.stack.base}{path}", timeout=15,  # type: ignore[arg-type]
                                               **kw)
            except httpx.HTTPError:
                r = None
            if r is not None and r.status_code < 500 and r.status_code != 429:
                return r
            self.report.retries[what] += 1
            time.sleep(0.5)
        raise TimeoutError(f"{what}: no answer before the deadline")

    def mails(self, to: str) -> list[dict[str, object]]:
        r = self.call("mailbox", "GET", "/dev/mailbox/messages")
        return [m for m in r.json() if m["to"] == to]

    def wait_mail(self, to: str, subject: str) -> dict[str, object]:
        while time.monotonic() < self.deadline:
            found = [m for m in self.mails(to) if subject in str(m["subject"])]
            if found:
                return found[0]
            time.sleep(0.5)
        raise TimeoutError(f"no mail {subject!r} to {to}")

    def register(self, api_key: str, n: int) -> None:
        """Invitation → one-time password → secret question → download (L-1)."""
        tenant = {"authorization": f"Bearer {api_key}"}
        email = f"user{n}@chaos.example.jp"
        invited = self.call("invite", "POST", "/api/v1/enrollments", headers=tenant, json={
            "user_id": f"u-{n}", "email": email, "name": f"利用者 {n}"})
        if invited.status_code == 409:  # an earlier attempt made it; the tenant invites again
            invited = self.call("invite", "POST", "/api/v1/enrollments", headers=tenant, json={
                "user_id": f"u-{n}", "email": email, "name": f"利用者 {n}"})
        if invited.status_code != 201:
            self.report.problems.append(f"invite {n}: {invited.status_code} {invited.text[:200]}")
            return
        self.report.registrations += 1
        body = invited.json()
        token = body["enrollment_url"].rstrip("/").rsplit("/", 1)[1]
        with httpx.Client() as browser:
            try:
                self._register(browser, n, email, token, body["one_time_password"])
            except TimeoutError as exc:
                self.report.problems.append(f"registration {n} unfinished: {exc}")

    def _register(self, browser: httpx.Client, n: int, email: str, token: str, one_time_password: str) -> None:
        otp = self.call("otp", "POST", f"/api/v1/enroll/{token}/otp", browser,
                        json={"one_time_password": one_time_password})
        if otp.status_code != 200:
            self.report.problems.append(f"otp {n}: {otp.status_code} {otp.text[:200]}")
            return
        question = otp.json()["questions"][0]["id"]
        secret = self.secret_step(browser, token, {"question_id": question, "answer": "Tanaka"})
        if secret.status_code != 200:
            # Refused while the process is past the question (its answer lost for good), or
            # ``otp_first`` right after the OTP: someone stranded (issue 15).
            self.report.problems.append(f"secret {n}: {secret.status_code} {secret.text[:200]}")
            return
        password = secret.json()["download_password"]
        mail = self.wait_mail(email, "ダウンロード")
        download = str(mail["body"]).split("/download/", 1)[1].split()[0]
        got = self.call("download", "POST", f"/api/v1/downloads/{download}", json={"download_password": password})
        if got.status_code == 200:
            self.report.downloaded += 1
        else:
            self.report.problems.append(f"download {n}: {got.status_code} {got.text[:200]}")

    def secret_step(self, browser: httpx.Client, token: str, answer: dict[str, str]) -> httpx.Response:
        """The secret question from the person's own browser, sent again (the same step, the same
        cookie) whatever cut it off; and again after "being issued, try again in a moment" while the
        step's credentials are still being registered. Any other answer is the last."""
        path = f"/api/v1/enroll/{token}/secret"
        cut_off = False  # an attempt reached the stack and got no answer
        took_effect = False  # an earlier attempt did (nobody else sends this enrollment's step)
        while time.monotonic() < self.deadline:
            took_effect = took_effect or (cut_off and self.credentials_registered(token))
            try:
                r = browser.post(f"{self.stack.base}{path}", json=answer, timeout=15)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                r = None  # never reached the stack (it is down)
            except httpx.HTTPError:
                r, cut_off = None, True
            if r is not None and r.status_code == 200:
                self.report.answered_again += took_effect  # then this is the earlier attempt's password
                return r
            not_ready = r is not None and r.status_code == 409 and r.json().get("error") == e.REGISTERING
            took_effect = took_effect or not_ready
            if r is not None and r.status_code < 500 and r.status_code != 429 and not not_ready:
                return r
            self.report.retries["secret not ready" if not_ready else "secret"] += 1
            time.sleep(0.5)
        raise TimeoutError("secret: no answer before the deadline")

    def credentials_registered(self, token: str) -> bool:
        """Whether the secret step took effect: its row has left the question (the same transaction
        that adopts the download password)."""
        public_id = token.partition(".")[0]  # the link token is "<public id>.<MAC>"
        with session_scope(self.engine) as s:
            row = s.exec(select(Enrollment).where(Enrollment.public_id == public_id)).first()
            return row is not None and row.state not in (e.OTP, e.QUESTION)

    def apply(self, staff: dict[str, str], n: int) -> None:
        """A new application → its DNS record placed → the desk's checks → approved → issued (S-2)."""
        created = cli_json(self.stack.env, "customer", "create", "--org", f"障害試験{n}株式会社",
                           "--email", f"it{n}@chaos.example.jp")
        session = self.call("login", "POST", "/api/v1/session", json={
            "access_key": created["access_key"], "password": created["initial_password"]}).json()
        customer = {"authorization": f"Bearer {session['token']}"}
        self.call("password", "POST", "/api/v1/password", headers=customer, json={
            "current_password": created["initial_password"], "new_password": PASSWORD})
        name = f"www.chaos{n}.co.jp"
        applied = self.call("apply", "POST", "/api/v1/applications", headers=customer, json={
            "type": "new", "product": "ov", "csr": make_csr(name), "agree_terms": True,
            "organization": {"name": f"障害試験{n}株式会社", "country": "JP", "state": "東京都",
                             "locality": "千代田区"}})
        if applied.status_code != 201:
            self.report.problems.append(f"apply {n}: {applied.status_code} {applied.text[:200]}")
            return
        self.report.applications += 1
        app_id = applied.json()["id"]
        path = f"/api/v1/applications/{app_id}"
        while time.monotonic() < self.deadline:
            rows = self.call("dcv", "GET", f"{path}/domain-validations", headers=customer).json()
            if rows and rows[0]["random_value"]:
                break
            time.sleep(0.5)
        record = {"name": rows[0]["dns_record_name"], "type": "TXT", "value": rows[0]["random_value"]}
        self.call("dns", "POST", "/dev/dns/records", json=record)
        task_id = None
        while time.monotonic() < self.deadline and task_id is None:
            self.call("recheck", "POST", f"{path}/domain-validations/recheck", headers=customer)
            tasks = self.call("tasks", "GET", "/api/v1/tasks?state=open&kind=application_review", headers=staff)
            task_id = next((t["id"] for t in tasks.json() if t["subject"] == f"application:{app_id}"), None)
            time.sleep(0.5)
        for check in ({"check": "organization", "source": "nta_corporate_number", "outcome": "confirmed"},
                      {"check": "phone_callback", "source": "telephone_directory", "reference": "03-1234-5678",
                       "outcome": "confirmed"}):
            self.call("check", "POST", f"/api/v1/tasks/{task_id}/checks", headers=staff, json=check)
        while time.monotonic() < self.deadline:
            done = self.call("approve", "POST", f"/api/v1/tasks/{task_id}/complete", headers=staff,
                             json={"outcome": "approve"})
            status = self.call("status", "GET", path, headers=customer).json()["status"]
            if status == "issued":
                self.report.issued += 1
                if n % 2 == 0:
                    self.reissue(customer, app_id, name)
                return
            if done.status_code not in (200, 409):
                self.report.problems.append(f"approve {n}: {done.status_code} {done.text[:200]}")
                return
            time.sleep(0.5)


    def reissue(self, customer: dict[str, str], app_id: int, name: str) -> None:
        """A reissue that revokes the previous certificate after the wait (S-5; the wait shortened)."""
        previous = self.call("detail", "GET", f"/api/v1/applications/{app_id}", headers=customer).json()["serial"]
        asked = self.call("reissue", "POST", f"/api/v1/applications/{app_id}/reissue", headers=customer,
                          json={"csr": make_csr(name), "revoke_previous": "after_two_weeks"})
        if asked.status_code == 409:  # an earlier attempt made it: find it among the customer's applications
            mine = self.call("list", "GET", "/api/v1/applications", headers=customer).json()
            made = [a for a in mine if a.get("parent_id") == app_id]
            if not made:
                self.report.problems.append(f"reissue of {app_id}: {asked.status_code} {asked.text[:200]}")
                return
            reissue_id = made[0]["id"]
        elif asked.status_code == 201:
            reissue_id = asked.json()["id"]
        else:
            self.report.problems.append(f"reissue of {app_id}: {asked.status_code} {asked.text[:200]}")
            return
        while time.monotonic() < self.deadline:
            detail = self.call("reissue status", "GET", f"/api/v1/applications/{reissue_id}", headers=customer)
            if detail.json()["status"] == "issued":
                self.report.reissued += 1
                self.report.superseded.append(previous)
                return
            time.sleep(0.5)

    def reset_password(self, staff: dict[str, str], n: int) -> None:
        """The customer asks for a password reset; support confirms by phone and resets it (S-4)."""
        email = f"reset{n}@chaos.example.jp"
        created = cli_json(self.stack.env, "customer", "create", "--org", f"再設定{n}株式会社", "--email", email)
        key = created["access_key"]
        asked = self.call("reset", "POST", "/api/v1/password-resets", json={"access_key": key, "email": email})
        if asked.status_code != 202:
            self.report.problems.append(f"reset {n}: {asked.status_code} {asked.text[:200]}")
            return
        self.report.resets += 1
        task_id = None
        while time.monotonic() < self.deadline and task_id is None:
            tasks = self.call("tasks", "GET", "/api/v1/tasks?kind=password_reset", headers=staff).json()
            task_id = next((t["id"] for t in tasks if key in t["title"]), None)
            time.sleep(0.5)
        while time.monotonic() < self.deadline:
            done = self.call("reset task", "POST", f"/api/v1/tasks/{task_id}/complete", headers=staff,
                             json={"outcome": "reset"})
            state = self.call("task", "GET", f"/api/v1/tasks/{task_id}", headers=staff).json()["state"]
            if state == "done":
                break
            if done.status_code not in (200, 409):
                self.report.problems.append(f"reset task {n}: {done.status_code} {done.text[:200]}")
                return
            time.sleep(0.5)
        self.wait_mail(email, "パスワード")
        self.report.reset_mailed += 1


class SecondWorker:
    """``python -m certdesk.worker`` beside the stack's own, on the same task queue."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "certdesk.worker"], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)


def _killer(stack: Stack, worker: SecondWorker, report: Report, kills: int, rng: random.Random,
            stop: threading.Event) -> None:
    for n in range(kills):
        if stop.wait(rng.uniform(2.0, 6.0)):
            return
        if n % 2 == 0:  # the second worker alone, mid-activity as likely as not
            worker.kill()
            report.worker_kills += 1
            worker.start()
            continue
        worker.kill()  # the whole stack: Temporal, its worker, the perspectives, the API
        stack.kill()
        report.kills += 1
        stack.start()
        worker.start()


def run(tmp: Path, registrations: int, applications: int, kills: int, seed: int = 1,
        seconds: float = 240, resets: int = 0) -> tuple[Report, Path]:
    """Runs the people and the killer against a fresh ``certdesk up``; the report and the database."""
    dns = free_port()  # both workers look at the stack's development DNS zone
    env = stack_env(tmp / "var", CERTDESK_DEV_DNS_PORT=str(dns), CERTDESK_DNS_RESOLVER=f"127.0.0.1:{dns}",
                    CERTDESK_DELAYED_REVOCATION=f"PT{DELAYED_REVOCATION}S")
    stack = Stack(env, tmp / "up.log")
    worker = SecondWorker(env, tmp / "worker.log")
    report, rng = Report(), random.Random(seed)
    stack.start()
    worker.start()
    engine = make_engine(f"sqlite:///{tmp / 'var' / 'certdesk.db'}")
    try:
        api_key = cli_json(env, "tenant", "create", "障害試験サイト")["api_key"]
        cli_json(env, "staff", "create", "chaos", "--role", "supervisor", "--password", STAFF_PASSWORD)
        people = People(stack, report, time.monotonic() + seconds, engine)
        token = people.call("staff", "POST", "/api/v1/staff/session",
                            json={"username": "chaos", "password": STAFF_PASSWORD}).json()["token"]
        staff = {"authorization": f"Bearer {token}"}
        stop = threading.Event()
        killer = threading.Thread(target=_killer, args=(stack, worker, report, kills, rng, stop), daemon=True)
        workers = [threading.Thread(target=people.register, args=(api_key, n)) for n in range(registrations)]
        workers += [threading.Thread(target=people.apply, args=(staff, n)) for n in range(applications)]
        workers += [threading.Thread(target=people.reset_password, args=(staff, n)) for n in range(resets)]
        killer.start()
        for w in workers:
            w.start()
            time.sleep(rng.uniform(0, 0.3))
        for w in workers:
            w.join(seconds + 30)
        stop.set()
        killer.join(120)
        _wait_for_revocations(tmp / "var" / "certdesk.db", report, time.monotonic() + DELAYED_REVOCATION + 60)
        mails = people.call("mailbox", "GET", "/dev/mailbox/messages").json()
        events = Counter(str(m["headers"].get("X-Certdesk-Event")) for m in mails)
        report.problems += [f"mailed {n} times: {event}" for event, n in events.items() if n > 1]
    finally:
        engine.dispose()
        worker.kill()
        stack.stop()
    return report, tmp / "var" / "certdesk.db"


def _revocations(db: Path) -> Counter[str]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with session_scope(engine) as s:
            return Counter(e.subject.removeprefix("certificate:") for e in s.exec(select(AuditEvent).where(
                AuditEvent.action == "certificate.revoked")).all())
    finally:
        engine.dispose()


def _wait_for_revocations(db: Path, report: Report, deadline: float) -> None:
    """Each superseded certificate is revoked by its timer, once (the timer survived the crashes)."""
    while time.monotonic() < deadline and any(_revocations(db)[s] == 0 for s in report.superseded):
        time.sleep(1)
    revoked = _revocations(db)
    report.problems += [f"{s}: revoked {revoked[s]} times after its reissue" for s in report.superseded
                        if revoked[s] != 1]


def one_certificate_per_issuance(db: Path) -> list[str]:
    """Every certificate signed belongs to exactly one issued application or registration, and each of
    those has exactly one: nothing signed twice, nothing signed and lost."""
    engine = make_engine(f"sqlite:///{db}")
    try:
        with session_scope(engine) as s:
            signed = [c.serial for c in s.exec(select(CertificateRecord)).all() if c.state != "reserved"]
            wanted = [a.certificate_serial for a in s.exec(select(Application)).all() if a.certificate_serial]
            wanted += [e.certificate_serial for e in s.exec(select(Enrollment)).all() if e.certificate_serial]
    finally:
        engine.dispose()
    problems = [f"{serial}: signed {n} times" for serial, n in Counter(signed).items() if n > 1]
    problems += [f"{serial}: signed but no issuance holds it" for serial in set(signed) - set(wanted)]
    problems += [f"{serial}: held but never signed" for serial in set(wanted) - set(signed)]
    problems += [f"{serial}: held by two issuances" for serial, n in Counter(wanted).items() if n > 1]
    return problems
