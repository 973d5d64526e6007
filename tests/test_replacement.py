"""A contract's next certificates on the real stack (dev server, loopback DNS, every perspective;
issue 16). 「証明書の差し替え」: while the domain and organization checks can be reused it is issued
without a person, its validity stops at the contract's end, and the contract takes it. 別サービスへ
切り替え (S-7): vetted as the new product requires, it carries the old certificate's remaining
validity, the old one is revoked (superseded), and the contract's service becomes the new one."""

import asyncio
from datetime import timedelta

from sqlmodel import select

from store.db import session_scope
from store.models import Application, AuditEvent, CertificateRecord, Contract, Task, utcnow
from tests.test_certificate_authority import make_csr
from tests.test_vetting_desk import Desk, _apply, _approve, _review, _status, desk  # noqa: F401 (desk: the fixture)
from tests.vetting_checks import EV_CHECKS, record_checks

NAMES = ("www.example.co.jp", "example.co.jp")


def _contract(d: Desk, application_id: int) -> Contract | None:
    with session_scope(d.engine) as s:
        return s.exec(select(Contract).where(Contract.application_id == application_id)).first()


async def _contract_of(d: Desk, application_id: int) -> Contract:
    """The contract the application established, once its issuance has made it."""
    for _ in range(300):
        if (row := _contract(d, application_id)) is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("no contract")


async def test_a_replacement_reuses_the_checks_is_cut_at_the_term_end_and_becomes_the_contracts(
        desk: Desk) -> None:  # noqa: F811 (the fixture)
    d = desk
    first = await _apply(d)
    task = await _review(d, first)
    await record_checks(d.http, task["id"], d.staff)
    assert (await _approve(d, task["id"])).status_code == 200
    issued = await _status(d, first, "issued")
    contract = await _contract_of(d, first)
    assert contract.current_application_id == first and contract.certificate_serial == issued["serial"]

    # The certificate (199 days) expires before the term (a year) ends: the replacement is offered at
    # once. Here the term ends sooner, at a third of the certificate's life, so the cut shows.
    with session_scope(d.engine) as s:
        row = s.get(Contract, contract.id)
        assert row is not None
        row.term_end = row.certificate_not_before + (row.certificate_not_after - row.certificate_not_before) / 3
        s.add(row)
        term_end = row.term_end
    page = (await d.http.get(f"/account/applications/{first}", headers=d.customer)).text
    assert 'id="replace"' not in page  # the certificate outlives this term now: nothing to replace
    refused = await d.http.post(f"/api/v1/applications/{first}/replacement", headers=d.customer,
                                json={"csr": make_csr(*NAMES)})
    assert refused.status_code == 409 and refused.json()["error"] == "replacement_not_needed"
    with session_scope(d.engine) as s:  # 109 days on: the certificate has 90 days left, the term 120
        row = s.get(Contract, contract.id)
        assert row is not None
        now = utcnow()
        row.certificate_not_before, row.certificate_not_after = now - timedelta(days=109), now + timedelta(days=90)
        row.term_end = term_end = now + timedelta(days=120)
        s.add(row)
    page = (await d.http.get(f"/account/applications/{first}", headers=d.customer)).text
    assert 'id="replace"' in page
    other = await d.http.post(f"/api/v1/applications/{first}/replacement", headers=d.customer,
                              json={"csr": make_csr("www.example.co.jp", "shop.example.co.jp")})
    assert other.status_code == 422 and other.json()["fields"][0]["field"] == "csr"
    made = await d.http.post(f"/api/v1/applications/{first}/replacement", headers=d.customer,
                             json={"csr": make_csr(*NAMES)})
    assert made.status_code == 201, made.text
    replacement = int(made.json()["id"])
    assert made.json()["type"] == "replacement"
    # Asked again while it is being issued: refused.
    again = await d.http.post(f"/api/v1/applications/{first}/replacement", headers=d.customer,
                              json={"csr": make_csr(*NAMES)})
    assert again.status_code == 409

    done = await _status(d, replacement, "issued")
    with session_scope(d.engine) as s:
        # Nobody was asked: the checks of the first application were reused.
        tasks = s.exec(select(Task).where(Task.subject == f"application:{replacement}")).all()
        assert tasks == []
        cert = s.exec(select(CertificateRecord).where(CertificateRecord.serial == done["serial"])).one()
        record = s.get(Application, replacement)
        assert record is not None and record.parent_id == first
    assert cert.not_after is not None and cert.not_after <= term_end  # never past the contract's end
    assert cert.not_before is not None and timedelta(days=118) < cert.not_after - cert.not_before < timedelta(days=120)
    for _ in range(300):
        if (await _contract_of(d, first)).certificate_serial == done["serial"]:
            break
        await asyncio.sleep(0.05)
    taken = await _contract_of(d, first)
    assert taken.current_application_id == replacement and taken.certificate_not_after == cert.not_after
    assert taken.term_end == term_end
    with session_scope(d.engine) as s:
        moved = s.exec(select(AuditEvent).where(AuditEvent.action == "contract.certificate_replaced")).all()
    assert [e.details["serial"] for e in moved] == [done["serial"]]
    # Its certificate is the current one now; the old record offers nothing more.
    assert 'id="replace"' not in (await d.http.get(f"/account/applications/{first}", headers=d.customer)).text


async def test_a_switch_to_ev_is_vetted_as_ev_carries_the_remaining_validity_and_revokes_the_old(
        desk: Desk) -> None:  # noqa: F811 (the fixture)
    d = desk
    first = await _apply(d)
    task = await _review(d, first)
    await record_checks(d.http, task["id"], d.staff)
    assert (await _approve(d, task["id"])).status_code == 200
    old = await _status(d, first, "issued")
    contract = await _contract_of(d, first)
    page = (await d.http.get(f"/account/applications/{first}", headers=d.customer)).text
    assert 'id="switch"' in page and 'value="ov"' not in page.split('id="switch"')[1].split("</form>")[0]

    same = await d.http.post(f"/api/v1/applications/{first}/switch", headers=d.customer, json={
        "product": "ov", "csr": make_csr(*NAMES), "revoke_previous": "immediately", "agree_terms": True})
    assert same.status_code == 422 and same.json()["fields"][0]["field"] == "product"
    made = await d.http.post(f"/api/v1/applications/{first}/switch", headers=d.customer, json={
        "product": "ev", "csr": make_csr(*NAMES), "revoke_previous": "immediately", "agree_terms": True})
    assert made.status_code == 201, made.text
    switch = int(made.json()["id"])

    # Vetted as EV requires: the organization and phone checks are reused, the EV ones are asked for.
    review = await _review(d, switch)
    missing = (await d.http.get(f"/api/v1/tasks/{review['id']}/checks", headers=d.staff)).json()["missing"]
    assert missing and all(m.startswith("ev_") for m in missing)
    await record_checks(d.http, review["id"], d.staff, EV_CHECKS[2:])
    assert (await _approve(d, review["id"])).status_code == 200
    new = await _status(d, switch, "issued")
    with session_scope(d.engine) as s:
        certs = {c.serial: c for c in s.exec(select(CertificateRecord)).all()}
    before, after = certs[old["serial"]], certs[new["serial"]]
    assert before.not_after is not None and after.not_after is not None
    # 「証明書の有効期間も引き継ぎます」: it ends when the old one would have, not a full term later.
    assert before.not_after - timedelta(days=1) <= after.not_after <= before.not_after
    for _ in range(300):
        with session_scope(d.engine) as s:
            revoked = s.get(CertificateRecord, before.id)
            row = s.get(Contract, contract.id)
        if revoked is not None and revoked.state == "revoked" and row is not None and row.product == "ev":
            break
        await asyncio.sleep(0.05)
    assert revoked is not None and (revoked.state, revoked.revocation_reason) == ("revoked", "superseded")
    assert row is not None and (row.product, row.current_application_id, row.certificate_serial) == (
        "ev", switch, new["serial"])
