"""お申込一覧 search benchmark (S-10): 1,000,000 applications, 100,000 of them one customer's, on
PostgreSQL; each search's p50/p99 against a bare indexed SELECT of the very same rows.

    .venv/bin/python bench/search.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                     [--repeats 200] [--reuse]

The data go into a schema of their own (``bench_search``, dropped and seeded again unless
``--reuse``), by COPY: customers, applications (new applications, their reissues, contact
changes and revocations, over eight years, so that some fall under the 75-month rule), contracts
(active, ending, ended, cancelled) and certificates. What is timed, for the big customer:

  ours:     store.application_search.search(): the count and the page (join of the line's
            contract, the certificate's validity, the view, the 75-month rule, the filters);
  baseline: SELECT of the same columns of the same page's rows by primary key (``id = ANY``),
            the cheapest indexed read of what the page shows.

Each repeat runs both back to back (alternating which goes first); the table shows p50 and p99
of each and the ratio of the p50s. The machine is shared and noisy: the ratio travels, the
absolute times less so. The target: every search's p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain import application_search as rules  # noqa: E402
from domain.pki.hierarchy import TLS_CA  # noqa: E402
from store import application_search as search  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from store.models import search_texts  # noqa: E402

SCHEMA = "bench_search"
TOTAL, BIG = 1_000_000, 100_000  # applications in the table; the big customer's share
OTHERS = 90  # other customers share the rest
NOW = datetime.now(UTC)
TZ = "Asia/Tokyo"
PRODUCTS = ("ov", "ev", "ov_auto", "ev_auto")
SERVER_TYPES = ("apache", "nginx", "iis", "other", "")


def _schema_url(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}"


def seed(url: str, rng: random.Random) -> Engine:
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    engine = make_engine(_schema_url(url))
    migrate(engine)
    started = time.perf_counter()
    customers = [(i, f"{i:08d}", f"顧客 {i} 株式会社", f"it{i}@example.jp", "x", False, 1, False, NOW)
                 for i in range(1, OTHERS + 2)]
    apps, contracts, certs = [], [], []
    owner = [1] * BIG + [2 + i % OTHERS for i in range(TOTAL - BIG)]
    rng.shuffle(owner)
    lines: dict[int, list[tuple[int, int]]] = {}  # customer -> [(root id, depth)] to hang children on
    for app_id in range(1, TOTAL + 1):
        customer = owner[app_id - 1]
        created = NOW - timedelta(days=rng.uniform(0, 8 * 365))
        roots = lines.setdefault(customer, [])
        kind = "new" if not roots or rng.random() < 0.6 else rng.choice(("reissue", "contact_change", "revocation",
                                                                          "renewal", "replacement"))
        product = rng.choice(PRODUCTS)
        parent = line = None
        if kind != "new":
            line, parent = rng.choice(roots[-50:])  # a recent line of the customer's
        status = rng.choices(("issued", "received", "documents_pending", "cancelled", "rejected"),
                             (80, 8, 4, 5, 3))[0]
        issued = created + timedelta(days=3) if status == "issued" and kind != "contact_change" else None
        serial = f"{app_id:x}" if issued else None
        code = f"C{app_id:07d}" if kind == "new" and issued else None
        names = [f"www{app_id}.shop{customer}.example.jp", f"shop{customer}.example.jp"]
        org = f"{'株式会社' if app_id % 3 else '合同会社'}ショップ{app_id % 997} {customer}"
        downloaded = issued + timedelta(hours=2) if issued and rng.random() < 0.7 else None
        apps.append((app_id, customer, kind, product, status, "-", json.dumps(names), json.dumps({"name": org}),
                     "{}", f"CP-{app_id}" if rng.random() < 0.1 else None, rng.choice(SERVER_TYPES), code, serial,
                     parent, line, f"application-{app_id}", created, issued, downloaded, issued or created,
                     *search_texts({"name": org}, names)))
        if kind == "new":
            roots.append((app_id, app_id))
        elif rng.random() < 0.3:
            roots.append((line or app_id, app_id))  # the next record of the line hangs on this one
        if serial:
            certs.append((serial, TLS_CA, f"application-{app_id}", "server", product, names[0], json.dumps(names),
                          "issued", issued, issued + timedelta(days=397), issued))
        if code:
            state = "active" if issued and issued > NOW - timedelta(days=397) else rng.choice(
                ("ended", "ended", "cancelled", "active"))
            contracts.append((code, customer, product, "fixed", 12, issued, issued + timedelta(days=365), 1, state,
                              app_id, app_id, serial, issued, issued + timedelta(days=397), "{}", "",
                              f"contract-{code}", issued, issued))
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        copies = (
            ("customer (id, access_key, organization, email, password_hash, password_is_initial, password_version, "
             "password_expired, created_at)", customers),
            ("application (id, customer_id, type, product, status, csr_pem, names, organization, contacts, coupon, "
             "server_type, contract_code, certificate_serial, parent_id, line_id, workflow_id, created_at, issued_at, "
             "downloaded_at, updated_at, search_organization, search_names)", apps),
            ("contract (code, customer_id, product, contract_type, term_months, term_start, term_end, terms, state, "
             "application_id, current_application_id, certificate_serial, certificate_not_before, "
             "certificate_not_after, contacts, reseller_code, workflow_id, created_at, updated_at)", contracts),
            ("certificate (serial, issuer, request_key, kind, product, display_name, names, state, not_before, "
             "not_after, created_at)", certs),
        )
        for target, rows in copies:
            with cur.copy(f"COPY {target} FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        for table in ("customer", "application"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
        raw.commit()
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        raw.driver_connection.execute("VACUUM (ANALYZE)")  # type: ignore[union-attr]  # what autovacuum does in time: the visibility map for index-only reads
    finally:
        raw.close()
    print(f"seeded {len(apps):,} applications ({BIG:,} of customer 1), {len(contracts):,} contracts, "
          f"{len(certs):,} certificates in {time.perf_counter() - started:.0f} s", flush=True)
    return engine


SEARCHES: dict[str, dict[str, str]] = {
    "current list, page 1": {},
    "current list, page 50 (the last counted)": {"page": "50"},
    "past contracts": {"view": "past"},
    "申請区分 reissue + サービス ev": {"type": "reissue", "product": "ev"},
    "お申込日 one year, not downloaded": {"date_from": (NOW - timedelta(days=365)).date().isoformat(),
                                          "date_to": NOW.date().isoformat(), "download": "not_downloaded"},
    "更新日 one month": {"date_field": "updated", "date_from": (NOW - timedelta(days=30)).date().isoformat()},
    "法人名 含む かつ ドメイン名 含む": {"field1": "organization", "text1": "ショップ12",
                                         "field2": "domain", "text2": "www1"},
    "契約コード 含む, sorted by 契約コード": {"field1": "contract_code", "text1": "C00012", "sort": "contract_code"},
    "sorted by 証明書有効期間 asc": {"sort": "validity", "order": "asc"},
    "サーバタイプ nginx, sorted by status": {"server_type": "nginx", "sort": "status", "order": "asc"},
}


def bare(engine: Engine, ids: list[int]) -> Callable[[], object]:
    sql = text("SELECT a.id, a.type, a.product, a.status, a.names, a.organization, a.coupon, a.server_type, "
               "a.created_at, a.updated_at, a.issued_at, a.downloaded_at FROM application a WHERE a.id = ANY(:ids)")

    def run() -> object:
        with engine.connect() as conn:
            return conn.execute(sql, {"ids": ids}).all()
    return run


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded schema of an earlier run")
    args = parser.parse_args()
    engine = make_engine(_schema_url(args.url)) if args.reuse else seed(args.url, random.Random(17))  # noqa: S311
    if args.reuse:
        migrate(engine)
    print(f"{'search':40} {'rows':>7} {'p50':>8} {'p99':>8} | {'bare p50':>8} {'bare p99':>8} | ratio", flush=True)
    worst = 0.0
    for name, params in SEARCHES.items():
        query, problems = rules.parse(params)
        assert not problems, problems

        def ours(q: rules.Query = query) -> search.Result:
            return search.search(engine, 1, q, NOW, TZ)
        result = ours()
        baseline = bare(engine, [r.id for r in result.rows])
        ours_s, base_s = [], []
        for i in range(args.repeats):
            for which in ((ours, ours_s), (baseline, base_s))[:: 1 if i % 2 else -1]:
                start = time.perf_counter()
                which[0]()
                which[1].append(time.perf_counter() - start)
        p50, p99, b50, b99 = (pct(ours_s, .5), pct(ours_s, .99), pct(base_s, .5), pct(base_s, .99))
        worst = max(worst, p99)
        print(f"{name:40} {result.total:>7,} {p50 * 1e3:>6.1f}ms {p99 * 1e3:>6.1f}ms | {b50 * 1e3:>6.2f}ms "
              f"{b99 * 1e3:>6.2f}ms | {statistics.median(ours_s) / statistics.median(base_s):>5.1f}×", flush=True)
    print(f"worst p99 {worst * 1e3:.1f} ms ({'under' if worst < 0.1 else 'OVER'} the 100 ms target)")


if __name__ == "__main__":
    main()
