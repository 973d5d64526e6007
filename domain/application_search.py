"""お申込一覧 and its 検索 (S-10, manual 003 section 4): what a search may ask, how it is checked, and
which records a list shows. Pure rules; ``store.application_search`` turns a ``Query`` into SQL.

- The list shows the current contracts (「現在有効な契約を表示しています」); 【過去案件表示】 the ended
  ones. A record's view follows its contract: ``past`` once the contract has ended or was
  cancelled; a record that never made a contract (in progress, or closed before issuance) is
  current while it is open and past once rejected, cancelled or returned.
- A record whose certificate was issued 75 months ago or more is not listed at all
  (「証明書発行したものは日付が75ヶ月未満のもの」); one never issued always is.
- 検索: a date range on お申込日 or 更新日, 申請区分, サービス種別, ダウンロード, サーバタイプ, and two
  「含む」 conditions joined by かつ (AND); every column sorts; paging.

``parse(params, now)`` gives the ``Query`` and, for each bad parameter, its error code (the API
answers 422 naming the parameter; the search screen shows the message next to its field).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.catalog import CATALOG
from domain.contract_life import CANCELLED, ENDED, add_months
from domain.server_types import SERVER_TYPES

CURRENT, PAST, ALL = "current", "past", "all"
VIEWS = (CURRENT, PAST, ALL)  # the pages use the first two; ``all`` is the API's
# 申請区分, in the manual's order (新規, 更新, 再発行, 担当者変更, 失効, then the contract's own moves).
TYPES = ("new", "renewal", "reissue", "contact_change", "revocation", "switch", "replacement")
DATE_FIELDS = ("created", "updated")  # お申込日, 更新日
DOWNLOADS = ("downloaded", "not_downloaded")  # 証明書ダウンロード
# 絞込条件 (「含む」): 法人名, ドメイン名, 契約コード, クーポン番号
TEXT_FIELDS = ("organization", "domain", "contract_code", "coupon")
# △ columns of the list (and the search screen's ソート条件).
SORT_KEYS = ("created", "product", "status", "type", "validity", "contract_code")
ORDERS = ("asc", "desc")
RETENTION_MONTHS = 75
PER_PAGE, MAX_PER_PAGE = 20, 100
MAX_TEXT = 100
MAX_PAGE = 100_000
# A list counts its matches up to this many ("1000件以上" beyond): an exact count of 100,000 records
# costs more than the page itself.
COUNT_LIMIT = 1_000
CLOSED_WITHOUT_CONTRACT = ("rejected", "cancelled", "returned")
ENDED_CONTRACT = (ENDED, CANCELLED)
PARAMETERS = ("view", "date_field", "date_from", "date_to", "type", "product", "download", "server_type",
              "field1", "text1", "field2", "text2", "sort", "order", "page", "per_page")


@dataclass(frozen=True)
class Query:
    view: str = CURRENT
    date_field: str = "created"
    date_from: date | None = None  # days in the business time zone, both included
    date_to: date | None = None
    type: str = ""
    product: str = ""
    download: str = ""
    server_type: str = ""
    field1: str = ""
    text1: str = ""
    field2: str = ""
    text2: str = ""
    sort: str = "created"
    order: str = "desc"
    page: int = 1
    per_page: int = PER_PAGE

    def texts(self) -> list[tuple[str, str]]:
        """The 「含む」 conditions that are set, both to hold (かつ)."""
        return [(f, t) for f, t in ((self.field1, self.text1), (self.field2, self.text2)) if f and t]

    def is_search(self) -> bool:
        """Whether anything narrows the list beyond its view (the page then says it shows a search)."""
        return bool(self.date_from or self.date_to or self.type or self.product or self.download
                    or self.server_type or self.texts())

    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def params(self, **changes: object) -> dict[str, str]:
        """The query as URL parameters (defaults left out), e.g. for the next page or another sort."""
        values = {**self.__dict__, **changes}
        default = Query()
        return {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in values.items()
                if v not in (None, "") and v != getattr(default, k)}


def _choice(value: str, allowed: tuple[str, ...], problems: dict[str, str], name: str) -> str:
    if value and value not in allowed:
        problems[name] = "search_choice"
        return ""
    return value


def _day(value: str, problems: dict[str, str], name: str) -> date | None:
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        problems[name] = "search_date"
        return None


def _number(value: str, low: int, high: int, default: int, problems: dict[str, str], name: str) -> int:
    if not value:
        return default
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        problems[name] = "search_number"
        return default
    return int(value)


def _text(value: str, limit: int, problems: dict[str, str], name: str) -> str:
    value = value.strip()
    if len(value) > limit or any(ord(c) < 32 or c == "\x7f" for c in value):
        problems[name] = "search_text"
        return ""
    return value


def parse(params: Mapping[str, str]) -> tuple[Query, dict[str, str]]:
    """The query, and ``{parameter: error code}`` for each parameter that cannot be used. An unknown
    parameter is refused too, so that a misspelt filter never silently widens a search."""
    problems: dict[str, str] = {}
    for name in params:
        if name not in PARAMETERS and name != "lang":
            problems[name] = "search_unknown"
    get = {k: (params.get(k) or "") for k in PARAMETERS}
    query = Query(
        view=_choice(get["view"], VIEWS, problems, "view") or CURRENT,
        date_field=_choice(get["date_field"], DATE_FIELDS, problems, "date_field") or "created",
        date_from=_day(get["date_from"], problems, "date_from"),
        date_to=_day(get["date_to"], problems, "date_to"),
        type=_choice(get["type"], TYPES, problems, "type"),
        product=_choice(get["product"], tuple(CATALOG), problems, "product"),
        download=_choice(get["download"], DOWNLOADS, problems, "download"),
        server_type=_choice(get["server_type"], SERVER_TYPES, problems, "server_type"),
        field1=_choice(get["field1"], TEXT_FIELDS, problems, "field1"),
        text1=_text(get["text1"], MAX_TEXT, problems, "text1"),
        field2=_choice(get["field2"], TEXT_FIELDS, problems, "field2"),
        text2=_text(get["text2"], MAX_TEXT, problems, "text2"),
        sort=_choice(get["sort"], SORT_KEYS, problems, "sort") or "created",
        order=_choice(get["order"], ORDERS, problems, "order") or "desc",
        page=_number(get["page"], 1, MAX_PAGE, 1, problems, "page"),
        per_page=_number(get["per_page"], 1, MAX_PER_PAGE, PER_PAGE, problems, "per_page"),
    )
    if query.date_from and query.date_to and query.date_from > query.date_to:
        problems.setdefault("date_to", "search_date_order")
    for n in ("1", "2"):  # a 「含む」 text needs its field, and a field its text
        if get[f"text{n}"].strip() and not get[f"field{n}"] and f"field{n}" not in problems:
            problems[f"field{n}"] = "search_field_missing"
    return query, problems


def listing_cutoff(now: datetime) -> datetime:
    """Certificates issued before this moment are no longer listed (75 months, by the calendar)."""
    return add_months(now, -RETENTION_MONTHS)


def is_listed(issued_at: datetime | None, now: datetime) -> bool:
    return issued_at is None or issued_at > listing_cutoff(now)


def view_of(contract_state: str | None, status: str) -> str:
    """``current`` or ``past`` for a record whose line's contract is in ``contract_state`` (None: no
    contract yet, or never)."""
    if contract_state is not None:
        return PAST if contract_state in ENDED_CONTRACT else CURRENT
    return PAST if status in CLOSED_WITHOUT_CONTRACT else CURRENT


def day_bounds(start: date | None, end: date | None, timezone: str) -> tuple[datetime | None, datetime | None]:
    """The UTC moments ``[from, to)`` of a range of days in the business time zone (both days included)."""
    tz = ZoneInfo(timezone)
    low = datetime.combine(start, time(0), tz) if start else None
    high = datetime.combine(end + timedelta(days=1), time(0), tz) if end else None
    return low, high


def pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))
