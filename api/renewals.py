"""更新申請 (S-3; manual 003 section 2.2): the next term of a 期間固定タイプ contract, asked from the
detail page of its current record.

Pages, in the manual's order: ``/account/applications/{id}/renewal`` (申請規約同意, 「同意する」) →
``…/renewal/basic`` (基本情報入力: the product, the 特約店コード from the account, read-only, the
coupon) → ``…/renewal/organization`` (申請組織情報入力: the organization and contacts of the
previous application, and a new CSR) → ``…/renewal/confirm`` (確認) → ``POST …/renewal`` (申込) →
``/account/applications/{new id}/renewal/done`` (completion). JSON: ``POST
/api/v1/applications/{id}/renewal``. One check behind both; nothing is stored on a bad input.

The record is an Application of type "renewal" whose parent is the contract's establishing
application (what ``store.contracts.renewal_filed`` looks at); it is vetted as a new application
(validations reused within their periods) and, once issued, its certificate becomes the
contract's; the Contract workflow starts the next term at the old one's end, so no paid day is lost.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api import applications as apps
from api import errors
from api.csr_messages import csr_problem
from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer, Workflows
from api.errors import ApiError
from api.ids import ApplicationId
from api.new_application import labels as field_labels
from domain import profile as profiles
from domain.catalog import CATALOG
from domain.contract_life import FIXED
from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from processes import applications as process
from processes import contracts as contract_process
from processes.client import Closed, Processes, Unavailable
from store import applications as records
from store import contracts as contract_records
from store.models import Application, Contract
from store.profiles import load_profile

router = APIRouter()
ROLES = profiles.ROLES  # the four contacts of the contract
CONTACT_FIELDS = [f for f in profiles.CONTACT_FIELDS if f.input != "checkbox"]
BASIC = ("agree_terms", "product", "coupon")  # what the first screens carry forward
TRUE = ("on", "true", "1", "yes")
# What is wrong with a CSR, by the part the PKI core names.


class RenewalRequest(BaseModel):
    """A 更新申請 as the API takes it: the new application's shape; what is left out of the
    organization and contacts is the previous application's."""

    product: str = Field(min_length=1, max_length=20)
    csr: str = Field(min_length=1, max_length=20000)
    agree_terms: bool = False
    coupon: str | None = Field(None, max_length=40)
    organization: dict[str, Any] = Field(default_factory=dict)
    contacts: dict[str, Any] = Field(default_factory=dict)


class Renewal:
    """The contract being renewed, as its current record and its row show it."""

    def __init__(self, request: Request, customer: CustomerPrincipal, application_id: int) -> None:
        self.current: Application = apps._own(request, customer, application_id)
        apps._allowed_or_refuse(request, self.current, "renew")
        contract = contract_records.of_application(request.app.state.engine, self.current)
        if contract is None:  # the rule has just seen it; only a concurrent change gets here
            raise ApiError(409, "no_contract")
        self.contract: Contract = contract
        level = CATALOG[contract.product].level if contract.product in CATALOG else ""
        # The contract's level, fixed term: changing service is 別サービスへ切り替えて申請 (S-7).
        self.products = [c for c, p in CATALOG.items() if p.contract_type == FIXED and p.level == level]
        saved = load_profile(request.app.state.engine, customer)
        self.reseller_code = str(saved.get("reseller_code") or contract.reseller_code or "")

    def previous(self) -> dict[str, Any]:
        """「前年度に申請された情報」: the previous application's organization, the contract's contacts."""
        return {"organization": dict(self.current.organization),
                "contacts": dict(self.contract.contacts or self.current.contacts)}


def check_renewal(request: Request, renewal: Renewal, body: RenewalRequest, merge: bool = True
                  ) -> tuple[list[dict[str, str]], list[str], dict[str, Any]]:
    """(problems by field, the CSR's names, the vetted organization and contacts); stores nothing.
    ``merge``: what the body leaves out is the previous application's (the API); the pages send all."""
    problems: list[dict[str, str]] = []
    if body.product not in renewal.products:
        problems.append({"field": "product", "message": errors.field_message(request, "renewal_product")})
    if not body.agree_terms:
        problems.append({"field": "agree_terms", "message": errors.field_message(request, "agree_terms")})
    names: list[str] = []
    try:
        checked = parse_csr(body.csr)
        names, body.csr = list(checked.dns_names), checked.pem  # only the canonical CSR is ever stored
    except CsrError as refused:  # the PKI core's words are English: the person reads ours
        problems.append(csr_problem(request, refused))
    before = renewal.previous() if merge else {"organization": {}, "contacts": {}}
    refused, vetted = apps.vet_document(request, {"reseller_code": renewal.reseller_code,
                                                  "organization": {**before["organization"], **body.organization},
                                                  "contacts": {**before["contacts"], **body.contacts}})
    return problems + refused, names, vetted


async def create_renewal(request: Request, workflows: Processes, customer: CustomerPrincipal, renewal: Renewal,
                         body: RenewalRequest, names: list[str], vetted: dict[str, Any]) -> Application:
    engine, contract = request.app.state.engine, renewal.contract
    record = records.create(engine, customer.actor, "application.renewal_requested",
                            {"parent": contract.application_id, "contract": contract.code, "product": body.product,
                             "names": names},
                            process.application_workflow_id, customer_id=customer.id, type="renewal",
                            product=body.product, csr_pem=body.csr, names=names,
                            organization=vetted["organization"], contacts=vetted["contacts"], coupon=body.coupon,
                            parent_id=contract.application_id)
    await process.start_application(workflows, int(record.id or 0), customer.id, f"{names[0]} ({body.product})",
                                    rollback=lambda: records.discard_unstarted(engine, int(record.id or 0)),
                                    kind="renewal")
    try:  # the term's 更新のご案内 stop now; the activity skips them anyway once the record exists
        await contract_process.facts_changed(workflows, contract.code)
    except (Closed, Unavailable):
        pass
    return record


# --- JSON ----------------------------------------------------------------------------------------

@router.post("/api/v1/applications/{application_id}/renewal", status_code=201)
async def renew(request: Request, application_id: ApplicationId, body: RenewalRequest, customer: Customer,
                workflows: Workflows) -> Response:
    renewal = Renewal(request, customer, application_id)
    problems, names, vetted = check_renewal(request, renewal, body)
    if problems:
        return errors.invalid(request, problems)  # nothing stored, nothing started
    record = await create_renewal(request, workflows, customer, renewal, body, names, vetted)
    return JSONResponse(apps.application_json(record), status_code=201)


# --- pages ---------------------------------------------------------------------------------------

def _body(values: dict[str, str]) -> RenewalRequest:
    """The form as the API's request; ValidationError for what the model itself refuses."""
    doc = profiles.from_form(values)
    return RenewalRequest(product=values.get("product") or "", csr=values.get("csr") or "",
                          agree_terms=values.get("agree_terms", "").lower() in TRUE,
                          coupon=values.get("coupon") or None, organization=doc["organization"],
                          contacts=doc["contacts"])


def _check_form(request: Request, renewal: Renewal, values: dict[str, str]
                ) -> tuple[dict[str, str], RenewalRequest, list[str], dict[str, Any]]:
    """The API's checks, each problem under its form field's name."""
    invalid, body = errors.form_body(request, _body, values)
    found, names, vetted = check_renewal(request, renewal, body, merge=False)
    problems = {f["field"]: f["message"] for f in found if f["field"] in BASIC}
    for k, m in invalid.items():
        problems.setdefault(k, m)
    for f in found:
        problems.setdefault("csr" if f["field"].startswith("csr.") else f["field"], f["message"])
    return problems, body, names, vetted


def _screen(request: Request, customer: CustomerPrincipal, renewal: Renewal, template: str,
            values: dict[str, str], problems: dict[str, str] | None = None, **ctx: Any) -> Response:
    problems = problems or {}
    return apps._page(request, f"portal/{template}", customer, 422 if problems else 200, values=values,
                      errors=problems, app=apps.application_json(renewal.current), products=renewal.products,
                      reseller_code=renewal.reseller_code, contract_code=renewal.contract.code, roles=ROLES,
                      organization_fields=profiles.ORGANIZATION_FIELDS, contact_fields=CONTACT_FIELDS,
                      labels=field_labels(request), **ctx)


def _prefilled(renewal: Renewal) -> dict[str, str]:
    values = profiles.to_form(renewal.previous())
    values.pop("reseller_code", None)
    return {k: v for k, v in values.items() if not k.endswith(".renewal_notice")}


def _carried(values: dict[str, str], keep: tuple[str, ...] | None = None) -> dict[str, str]:
    """What the next screen carries in hidden fields."""
    return {k: v for k, v in values.items() if k not in ("csrf_token", "step") and (keep is None or k in keep)}


def _refused(request: Request, customer: CustomerPrincipal, application_id: int, refused: ApiError) -> Response:
    return apps._refused_page(request, customer, application_id, refused)


@router.get("/account/applications/{application_id}/renewal", response_class=HTMLResponse)
async def terms_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    try:
        renewal = Renewal(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    return _screen(request, customer, renewal, "renewal_terms.html", {"product": renewal.products[0]})


@router.post("/account/applications/{application_id}/renewal/basic", response_class=HTMLResponse)
async def basic_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    values = await apps._form(request)
    check_csrf(customer, values.get("csrf_token"))
    try:
        renewal = Renewal(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    values = _carried(values)
    if values.get("agree_terms", "").lower() not in TRUE:
        return _screen(request, customer, renewal, "renewal_terms.html", values,
                       {"agree_terms": errors.field_message(request, "agree_terms")})
    values.setdefault("product", renewal.products[0])
    return _screen(request, customer, renewal, "renewal_basic.html", values, hidden=_carried(values, ("agree_terms",)))


@router.post("/account/applications/{application_id}/renewal/organization", response_class=HTMLResponse)
async def organization_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    values = await apps._form(request)
    check_csrf(customer, values.get("csrf_token"))
    try:
        renewal = Renewal(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    values = _carried(values)
    problems = {}
    if values.get("product") not in renewal.products:
        problems["product"] = errors.field_message(request, "renewal_product")
    if len(values.get("coupon", "")) > 40:
        problems["coupon"] = errors.field_message(request, "string_too_long", {"max_length": 40})
    if problems:
        return _screen(request, customer, renewal, "renewal_basic.html", values, problems,
                       hidden=_carried(values, ("agree_terms",)))
    if not any(k.startswith(("organization.", "contacts.")) for k in values):  # first time here: prefilled
        values = {**_prefilled(renewal), **values}
    return _screen(request, customer, renewal, "renewal_organization.html", values, hidden=_carried(values, BASIC))


@router.post("/account/applications/{application_id}/renewal/confirm", response_class=HTMLResponse)
async def confirm_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    values = await apps._form(request)
    check_csrf(customer, values.get("csrf_token"))
    try:
        renewal = Renewal(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    values = _carried(values)
    problems, _, _, _ = _check_form(request, renewal, values)
    if problems:
        return _back(request, customer, renewal, values, problems)
    return _screen(request, customer, renewal, "renewal_confirm.html", values, hidden=values)


def _back(request: Request, customer: CustomerPrincipal, renewal: Renewal, values: dict[str, str],
          problems: dict[str, str] | None = None) -> Response:
    """The screen where the first problem is (the basic screen for the product), else the last input screen."""
    problems = problems or {}
    if any(k in problems for k in BASIC):
        return _screen(request, customer, renewal, "renewal_basic.html", values, problems,
                       hidden=_carried(values, ("agree_terms",)))
    return _screen(request, customer, renewal, "renewal_organization.html", values, problems,
                   hidden=_carried(values, BASIC))


@router.post("/account/applications/{application_id}/renewal", response_class=HTMLResponse)
async def submit_page(request: Request, application_id: ApplicationId, customer: Customer,
                      workflows: Workflows) -> Response:
    values = await apps._form(request)
    check_csrf(customer, values.get("csrf_token"))
    step = values.get("step", "apply")
    try:
        renewal = Renewal(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    values = _carried(values)
    if step == "back":  # 戻る: the input again, with what was entered
        return _back(request, customer, renewal, values)
    problems, body, names, vetted = _check_form(request, renewal, values)  # hidden fields may have changed
    if problems:
        return _back(request, customer, renewal, values, problems)
    record = await create_renewal(request, workflows, customer, renewal, body, names, vetted)
    return RedirectResponse(f"/account/applications/{record.id}/renewal/done", status_code=303)


@router.get("/account/applications/{application_id}/renewal/done", response_class=HTMLResponse)
async def done_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    record = apps._own(request, customer, application_id)
    if record.type != "renewal":
        raise ApiError(404, "not_found", key="application_not_found")
    return apps._page(request, "portal/renewal_done.html", customer, app=apps.application_json(record))
