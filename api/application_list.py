"""お申込一覧 and 申込情報検索 (S-10, manual 003 sections 2.2 and 4): the customer's records, current
contracts by default, 【過去案件表示】 for the ended ones, 【検索】 for the rest, every column sorting;
``GET /api/v1/applications`` takes the same query parameters.

The rules (parameters, the 75-month rule, current vs past) are ``domain.application_search``; the
SQL is ``store.application_search``. A bad parameter answers 422 naming it (the JSON API) or the
search screen with the message next to its field (the pages); nothing is searched then.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import col, select

from api import errors
from api.applications import _page, application_json
from api.customer_auth import CustomerPrincipal
from api.deps import Customer
from api.i18n import messages, request_language
from domain import application_search as rules
from domain.application_search import Query
from domain.catalog import CATALOG
from domain.server_types import SERVER_TYPES
from store import application_search as search_store
from store.db import session_scope
from store.models import Application, utcnow

router = APIRouter()

# The list's △ columns, in the manual's order: (sort key, heading's message key).
COLUMNS = (("created", "list_col_created"), ("product", "list_col_product"), ("status", "list_col_status"),
           ("type", "list_col_type"), ("validity", "list_col_validity"),
           ("contract_code", "list_col_contract_code"))
FIELD_LABELS = {"view": "list_f_view", "date_field": "list_f_date_field", "date_from": "list_f_date_from",
                "date_to": "list_f_date_to", "type": "list_f_type", "product": "list_f_product",
                "download": "list_f_download", "server_type": "list_f_server_type", "field1": "list_f_field1",
                "text1": "list_f_text1", "field2": "list_f_field2", "text2": "list_f_text2", "sort": "list_f_sort",
                "order": "list_f_order", "page": "list_f_page", "per_page": "list_f_per_page"}
TEXT_LABELS = {"organization": "list_text_organization", "domain": "list_text_domain",
               "contract_code": "list_text_contract_code", "coupon": "list_text_coupon"}
DATE_LABELS = {"created": "list_date_created", "updated": "list_date_updated"}
DOWNLOAD_LABELS = {"downloaded": "list_download_downloaded", "not_downloaded": "list_download_not_downloaded"}


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.multi_items()}


def _messages(request: Request, problems: dict[str, str]) -> dict[str, str]:
    t = messages(request)
    return {name: t("list_err_" + code) for name, code in problems.items()}


def _search(request: Request, customer: CustomerPrincipal, query: Query) -> search_store.Result:
    settings = request.app.state.settings
    return search_store.search(request.app.state.engine, customer.id, query, utcnow(), settings.timezone)


def _choices(t: Callable[[str], str], lang: str) -> dict[str, list[tuple[str, str]]]:
    """The search screen's pull-downs, by their names as people read them (never a code)."""
    def server_type_name(value: str) -> str:
        key = "server_type_" + value
        return text if (text := t(key)) != key else value

    return {"date_field": [(v, t(DATE_LABELS[v])) for v in rules.DATE_FIELDS],
            "type": [(v, t("app_type_" + v)) for v in rules.TYPES],
            "product": [(code, product.name(lang)) for code, product in CATALOG.items()],
            "download": [(v, t(DOWNLOAD_LABELS[v])) for v in rules.DOWNLOADS],
            "server_type": [(v, server_type_name(v)) for v in SERVER_TYPES],
            "field": [(v, t(TEXT_LABELS[v])) for v in rules.TEXT_FIELDS],
            "sort": [(key, t(label)) for key, label in COLUMNS],
            "order": [(v, t("list_order_" + v)) for v in rules.ORDERS],
            "view": [(rules.CURRENT, t("list_view_current")), (rules.PAST, t("list_view_past"))]}


def _search_form(request: Request, customer: CustomerPrincipal, values: dict[str, str],
                 problems: dict[str, str]) -> Response:
    t, lang = messages(request), request_language(request)
    shown = {name: (t(FIELD_LABELS[name]) if name in FIELD_LABELS else t("list_f_unknown")) for name in problems}
    return _page(request, "portal/search.html", customer, 422 if problems else 200, values=values,
                 errors=_messages(request, problems), error_labels=shown,
                 choices=_choices(t, lang))


def _link(query: Query, **changes: object) -> str:
    params = query.params(**changes)
    return "/account/applications" + ("?" + urlencode(params) if params else "")


@router.get("/account/applications", response_class=HTMLResponse)
async def list_page(request: Request, customer: Customer) -> Response:
    query, problems = rules.parse(_params(request))
    if problems:
        return _search_form(request, customer, _params(request), problems)
    result = _search(request, customer, query)
    sorts = [{"key": key, "label": label, "active": query.sort == key,
              "href": _link(query, sort=key, page=1,
                            order="desc" if query.sort == key and query.order == "asc" else "asc")}
             for key, label in COLUMNS]
    return _page(request, "portal/applications.html", customer, rows=result.rows, result=result, query=query,
                 columns=sorts, past_href=_link(Query(view=rules.PAST)), current_href=_link(Query()),
                 search_href="/account/applications/search" + (
                     "?" + urlencode(query.params(page=1)) if query.params(page=1) else ""),
                 prev_href=_link(query, page=query.page - 1) if query.page > 1 else "",
                 next_href=_link(query, page=query.page + 1)
                 if query.page < result.pages or (result.more and len(result.rows) == query.per_page) else "")


@router.get("/account/applications/search", response_class=HTMLResponse)
async def search_page(request: Request, customer: Customer) -> Response:
    """申込情報検索 検索条件入力画面: the conditions of the list shown, to change and search again."""
    values = _params(request)
    _, problems = rules.parse(values)
    return _search_form(request, customer, values, problems)


@router.get("/api/v1/applications")
async def applications(request: Request, customer: Customer) -> Response:
    """The list as JSON, one page (``X-Total-Count``, ``X-Total-More``, ``X-Page``, ``X-Pages`` say where
    it stands)."""
    query, problems = rules.parse(_params(request))
    if problems:
        return errors.invalid(request, [{"field": name, "message": text}
                                        for name, text in _messages(request, problems).items()])
    result = _search(request, customer, query)
    ids = [row.id for row in result.rows]
    with session_scope(request.app.state.engine) as s:
        apps = {a.id: a for a in s.exec(select(Application).where(col(Application.id).in_(ids))).all()}
    body = [_row_json(application_json(apps[row.id]), row) for row in result.rows if row.id in apps]
    # X-Total-Count stops at rules.COUNT_LIMIT; X-Total-More says there are more than that.
    return JSONResponse(body, headers={"X-Total-Count": str(result.total), "X-Total-More": str(result.more).lower(),
                                       "X-Page": str(result.page), "X-Pages": str(result.pages),
                                       "Cache-Control": "no-store"})


def _row_json(base: dict[str, Any], row: search_store.Row) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {**base, "view": row.view, "line_contract_code": row.contract_code, "server_type": row.server_type,
            "updated_at": iso(row.updated_at), "downloaded_at": iso(row.downloaded_at),
            "validity": {"not_before": iso(row.not_before), "not_after": iso(row.not_after)}}
