"""Pages and API at a fixed request rate (issue #18 target 6): p50/p99 per route against a baseline
route timed in the same run.

    .venv/bin/python bench/pages.py [--rate 50] [--seconds 10] [--applications 20]

Starts ``certdesk up`` on free ports (embedded Temporal dev server, SQLite WAL), makes a customer
with ``--applications`` applications (through the API) and a staff user, logs both in through the
login forms (session cookies), and then sends each route ``--rate`` requests a second for
``--seconds``, one route after another:

  baseline     GET /login (a template, nothing read: the nearest thing to a static file, as the
               app serves none), first and before the start call; GET /healthz (database, Temporal and a polling
               worker asked) is shown too;
  pages/reads  the portal's お申込一覧 (/account/applications), an application's detail page,
               the desk's task list (/desk), GET /api/v1/applications;
  start        POST /api/v1/applications (a new application: starts its workflow).

Load: Debian's wrk has no fixed-rate mode (it sends as fast as its connections allow), so the load
is open-loop in Python (httpx): request i is sent at start + i/rate whatever the earlier ones are
doing, and its latency counts from that moment, so a slow answer cannot hide the queue behind it.
Targets: p99 < 50 ms for pages and reads, < 100 ms for calls that start a workflow.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.stack import (  # noqa: E402
    PASSWORD,
    STAFF_PASSWORD,
    BenchStack,
    customer_session,
    make_csr,
    running_stack,
    staff_session,
)

ORG = {"name": "ベンチ0株式会社", "country": "JP", "state": "東京都", "locality": "千代田区"}


def application(csr: str) -> dict[str, object]:
    return {"type": "new", "product": "ov", "csr": csr, "agree_terms": True, "organization": ORG}


async def fixed_rate(client: httpx.AsyncClient, rate: float, seconds: float, send: object) -> dict[str, float]:
    """``send(client, i)`` at ``rate`` a second, open loop; latency from each request's due time."""
    n = int(rate * seconds)
    latencies: list[float] = []
    failures: list[str] = []

    async def one(i: int, due: float) -> None:
        r = await send(client, i)  # type: ignore[operator]
        latencies.append(time.perf_counter() - due)
        if r.status_code >= 400:
            failures.append(f"{r.status_code} {r.text[:120]}")

    start = time.perf_counter()
    tasks = []
    for i in range(n):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    if failures:
        print(f"    {len(failures)} failed, e.g. {failures[0]}", flush=True)
    q = statistics.quantiles(latencies, n=100)
    return {"p50": statistics.median(latencies) * 1000, "p99": q[98] * 1000, "rate": n / elapsed,
            "failed": len(failures)}


async def cookie_login(http: httpx.AsyncClient, path: str, form: dict[str, str], base: str) -> None:
    r = await http.post(path, data=form, headers={"origin": base}, follow_redirects=False)
    if r.status_code != 303:
        raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")


async def measure(args: argparse.Namespace, bench: BenchStack) -> list[tuple[str, str, dict[str, float]]]:
    base = bench.base
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=base, timeout=30) as setup:
        access_key, bearer = await customer_session(bench, setup, 0)
        await staff_session(bench, setup)
        ids = []
        for n in range(args.applications):
            r = await setup.post("/api/v1/applications", headers=bearer,
                                 json=application(make_csr(f"www.pages{n}.co.jp")))
            if r.status_code != 201:
                raise RuntimeError(f"apply: {r.status_code} {r.text[:300]}")
            ids.append(r.json()["id"])
    csrs = [make_csr(f"www.rate{n}.co.jp") for n in range(int(args.rate * args.seconds) + 10)]
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as portal, \
            httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as desk:
        await cookie_login(portal, "/login", {"access_key": access_key, "password": PASSWORD}, base)
        await cookie_login(desk, "/desk/login", {"username": "bench", "password": STAFF_PASSWORD}, base)
        detail = f"/account/applications/{ids[0]}"
        routes: list[tuple[str, str, httpx.AsyncClient, object]] = [
            ("baseline", "GET /healthz", portal, lambda c, i: c.get("/healthz")),
            ("baseline", "GET /login", portal, lambda c, i: c.get("/login")),
            ("page", "GET /account/applications", portal, lambda c, i: c.get("/account/applications")),
            ("page", "GET /account/applications/{id}", portal, lambda c, i: c.get(detail)),
            ("page", "GET /desk (task list)", desk, lambda c, i: c.get("/desk")),
            ("read", "GET /api/v1/applications", portal,
             lambda c, i: c.get("/api/v1/applications", headers=bearer)),
            ("baseline", "GET /login (again)", portal, lambda c, i: c.get("/login")),
            # Last: each start sets the worker (in the same process under `certdesk up`) to work for a while.
            ("start", "POST /api/v1/applications", portal,
             lambda c, i: c.post("/api/v1/applications", headers=bearer, json=application(csrs[i]))),
        ]
        for _kind, _name, client, send in routes:  # warm-up: templates compiled, connections open
            for i in range(3):
                await send(client, len(csrs) - 1 - i)  # type: ignore[operator]
        # The applications just made have their domain validations' first looks running in the worker
        # (the same process as the API under `certdesk up`): measured after they settle.
        await asyncio.sleep(args.settle)
        results = []
        for kind, name, client, send in routes:
            r = await fixed_rate(client, args.start_rate or args.rate if kind == "start" else args.rate, args.seconds,
                                 send)
            print(f"  {name:34s} p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  ({r['rate']:.0f}/s)", flush=True)
            results.append((kind, name, r))
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="requests a second, per route")
    parser.add_argument("--seconds", type=float, default=10, help="per route")
    parser.add_argument("--applications", type=int, default=20, help="the customer's applications in the list")
    parser.add_argument("--start-rate", type=float, default=0,
                        help="requests a second of the workflow-starting call (default: --rate)")
    parser.add_argument("--settle", type=float, default=20, help="seconds to wait after the set-up")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="certdesk-pages-bench-") as tmp, running_stack(Path(tmp)) as bench:
        results = asyncio.run(measure(args, bench))
    baselines = [r for kind, name, r in results if name.startswith("GET /login")]
    base50 = statistics.mean(b["p50"] for b in baselines)
    base99 = statistics.mean(b["p99"] for b in baselines)
    print(f"\n{args.rate:.0f} requests/s per route (the start call {args.start_rate or args.rate:.0f}/s) for "
          f"{args.seconds:.0f} s, open loop (httpx); "
          f"baseline GET /login p50 {base50:.1f} ms, p99 {base99:.1f} ms (mean of its two runs)")
    for kind, name, r in results:
        target = {"page": 50, "read": 50, "start": 100}.get(kind)
        verdict = "" if target is None else f"  target p99 < {target} ms: {'met' if r['p99'] < target else 'NOT met'}"
        print(f"  {name:34s} p50 {r['p50']:6.1f} ms ({r['p50'] / base50:4.1f}x)  p99 {r['p99']:6.1f} ms "
              f"({r['p99'] / base99:4.1f}x){verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
