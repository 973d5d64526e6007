"""お申込一覧 and its 検索 in SQL (S-10): one customer's records, the view, the 75-month rule, the
filters of a ``domain.application_search.Query``, a sort and a page.

Each record is joined to its line's contract in one step (``Application.line_id``: the line's first
record, which established the contract), restricted to the customer's contracts. The page is read
through ``ix_application_customer_created`` (or ``…_updated``); the 「含む」 texts are LIKE patterns
whose ``%``, ``_`` and ``\\`` stand for themselves, compared case-insensitively.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from domain import application_search as rules
from domain.application_search import Query
from domain.pki.hierarchy import TLS_CA
from store.models import Application, CertificateRecord, Contract

A = Application.__table__  # type: ignore[attr-defined]
C = Contract.__table__  # type: ignore[attr-defined]
CERT = CertificateRecord.__table__  # type: ignore[attr-defined]
C2 = C.alias("line_contract")
ESCAPE = "\\"


@dataclass(frozen=True)
class Row:
    """One line of the list: the record, its line's contract and its certificate's validity."""

    id: int
    type: str
    product: str
    status: str
    server_name: str
    organization: str
    coupon: str
    server_type: str
    contract_code: str | None
    contract_state: str | None
    created_at: datetime
    updated_at: datetime | None
    issued_at: datetime | None
    downloaded_at: datetime | None
    not_before: datetime | None
    not_after: datetime | None

    @property
    def documents_pending(self) -> bool:
        return self.status == "documents_pending"

    @property
    def view(self) -> str:
        return rules.view_of(self.contract_state, self.status)


@dataclass(frozen=True)
class Result:
    rows: list[Row]
    total: int
    page: int
    pages: int
    more: bool = False  # more than ``total`` match (the count stops at rules.COUNT_LIMIT)


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's own characters escaped: a customer's ``50%_off`` finds just that."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped.lower()}%"


def _text_column(field: str) -> ColumnElement[Any]:
    """The column a 「含む」 condition matches, lower-cased (the search texts are stored so)."""
    if field == "organization":
        return A.c.search_organization
    if field == "domain":  # every name of the certificate
        return A.c.search_names
    if field == "coupon":
        return func.lower(A.c.coupon)
    raise ValueError(f"unknown text field {field!r}")


def _line_contract(customer_id: int) -> Any:
    return and_(C.c.application_id == func.coalesce(A.c.line_id, A.c.id), C.c.customer_id == customer_id)


def _conditions(customer_id: int, query: Query, now: datetime, timezone: str) -> list[ColumnElement[bool]]:
    ended = C.c.state.in_(rules.ENDED_CONTRACT)
    closed = A.c.status.in_(rules.CLOSED_WITHOUT_CONTRACT)
    where: list[ColumnElement[bool]] = [
        A.c.customer_id == customer_id,
        or_(A.c.issued_at.is_(None), A.c.issued_at > rules.listing_cutoff(now)),  # 75ヶ月未満
    ]
    if query.view == rules.PAST:
        where.append(or_(ended, and_(C.c.application_id.is_(None), closed)))
    elif query.view == rules.CURRENT:
        where.append(or_(C.c.state.not_in(rules.ENDED_CONTRACT), and_(C.c.application_id.is_(None), ~closed)))
    low, high = rules.day_bounds(query.date_from, query.date_to, timezone)
    moment = A.c.updated_at if query.date_field == "updated" else A.c.created_at
    if low is not None:
        where.append(moment >= low)
    if high is not None:
        where.append(moment < high)
    if query.type:
        where.append(A.c.type == query.type)
    if query.product:
        where.append(A.c.product == query.product)
    if query.download == "downloaded":
        where.append(A.c.downloaded_at.is_not(None))
    elif query.download == "not_downloaded":
        where.append(A.c.downloaded_at.is_(None))
    if query.server_type:
        where.append(A.c.server_type == query.server_type)
    for field, text in query.texts():
        if field == "contract_code":  # the few matching contracts first, then their lines' records
            matching = select(C2.c.application_id).where(
                C2.c.customer_id == customer_id, func.lower(C2.c.code).like(like_pattern(text), escape=ESCAPE))
            where.append(func.coalesce(A.c.line_id, A.c.id).in_(matching))
        else:
            where.append(_text_column(field).like(like_pattern(text), escape=ESCAPE))
    return where


def _order(query: Query) -> list[Any]:
    # 証明書有効期間 sorts by the validity's start (the issuance: in the index, unlike the certificate's row).
    column = {"created": A.c.created_at, "product": A.c.product, "status": A.c.status, "type": A.c.type,
              "validity": A.c.issued_at, "contract_code": C.c.code}[query.sort]
    if query.date_field == "updated" and query.sort == "created" and query.is_search():
        column = A.c.updated_at  # a search by 更新日 reads in 更新日 order
    # A record without the value (not issued, no contract) comes last going up, first going down:
    # PostgreSQL's own order, so its (customer, key, id) index serves the page either way.
    if query.order == "asc":
        return [column.asc().nulls_last() if query.sort != "created" else column.asc(), A.c.id.asc()]
    return [column.desc().nulls_first() if query.sort != "created" else column.desc(), A.c.id.desc()]


def search(engine: Engine, customer_id: int, query: Query, now: datetime, timezone: str) -> Result:
    """The page of the customer's records the query asks for, and how many there are in all (counted
    up to ``rules.COUNT_LIMIT``: beyond it the list says "more than").

    The page is found from the indexes alone (ids, in order), then its rows are read by id; a page
    that is not full says itself how many there are, so only a full one is counted."""
    where = _conditions(customer_id, query, now, timezone)
    joined = A.outerjoin(C, _line_contract(customer_id))
    page_of = (select(A.c.id, C.c.code, C.c.state).select_from(joined).where(*where)
               .order_by(*_order(query)).limit(query.per_page).offset(query.offset()))
    with engine.connect() as conn:
        found = list(conn.execute(page_of))
        if len(found) < query.per_page and (found or query.offset() == 0):
            counted = query.offset() + len(found)
        else:
            matching = select(A.c.id).select_from(joined).where(*where).limit(rules.COUNT_LIMIT + 1).subquery()
            counted = int(conn.execute(select(func.count()).select_from(matching)).scalar_one())
        ids = [int(r[0]) for r in found]
        details = {int(r[0]): r[1:] for r in conn.execute(
            select(A.c.id, A.c.type, A.c.product, A.c.status, A.c.names[0].as_string(),
                   A.c.organization["name"].as_string(), A.c.coupon, A.c.server_type, A.c.created_at,
                   A.c.updated_at, A.c.issued_at, A.c.downloaded_at, A.c.certificate_serial)
            .where(A.c.id.in_(ids)))} if ids else {}
        serials = [d[11] for d in details.values() if d[11]]
        validity = {serial: (nb, na) for serial, nb, na in conn.execute(
            select(CERT.c.serial, CERT.c.not_before, CERT.c.not_after).where(
                CERT.c.issuer == TLS_CA, CERT.c.serial.in_(serials)))} if serials else {}
    rows = []
    for row_id, code, state in found:
        d = details[int(row_id)]
        rows.append(Row(int(row_id), d[0], d[1], d[2], d[3] or "", d[4] or "", d[5] or "", d[6] or "", code, state,
                        *(_aware(v) for v in (*d[7:11], *validity.get(d[11], (None, None))))))
    total = min(counted, rules.COUNT_LIMIT)
    return Result(rows, total, query.page, rules.pages(total, query.per_page), counted > rules.COUNT_LIMIT)


def _aware(value: Any) -> Any:
    # Core reads go through UTCDateTime too; this only guards a value that would come back naive.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
