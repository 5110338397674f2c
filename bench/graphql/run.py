"""Benchmark: latency of the GraphQL customer list and customer detail at 20 concurrent clients.

    .venv/bin/python bench/graphql/run.py [--customers 1000000] [--clients 20] [--requests 2000] [--workers 5]

Runs against the brand `bench-refresh-N` of bench/refresh.py (database clv_bench_refresh; run bench/refresh.py
--customers N first so the brand exists and has published scores). Starts a production-like server (gunicorn,
sync workers, clvsite.settings.production with DEBUG off and persistent connections) on 127.0.0.1:8765,
creates a read-only (viewer) API token for the brand through the same service as `create_api_token`, and sends
the requests from `--clients` threads over keep-alive connections, half of them list queries and half
detail queries of customers spread over the whole brand. Prints p50/p95/p99 and throughput per query kind, and
checks every response for errors (a response with errors counts as a failure, not as a latency). The list
is timed apart for its first page (with totalCount, a COUNT over the brand's scored customers) and the pages
after it (without: a list screen shows the total once).

Target (GraphQL issue): p95 ≤ 100 ms for both queries on 1M customers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _server import HOST, PORT, refresh_bench_brand, start_server, stop_server  # noqa: E402

DB_URL = "postgres://postgres@127.0.0.1:5432/clv_bench_refresh"
TARGET_P95_MS = 100.0
# first page: the list with its totalCount (a COUNT over the brand's scored customers); list: the next pages
KINDS = ("first page", "list", "detail")

LIST_QUERY = """
query List($after: String) {
  customers(first: 20, after: $after, orderBy: {field: CLV, direction: DESC}) {
    edges { cursor node { id externalId stage rfmSegment churnProbability pPurchaseHorizon
                          clv { amount currency } lastOrderAt tier { name } } }
  }
}
"""
# the first page of the list screen also shows how many customers there are
FIRST_PAGE_QUERY = LIST_QUERY.replace("query List(", "query FirstPage(").replace(
    "orderBy: {field: CLV, direction: DESC}) {", "orderBy: {field: CLV, direction: DESC}) {\n    totalCount"
)

DETAIL_QUERY = """
query Detail($id: ID!) {
  customer(id: $id) {
    id externalId displayName phone gender ageBand
    stage stageRule rfmSegment churnProbability pPurchaseHorizon horizonDays
    expectedRevenueHorizon { amount currency } clv { amount currency }
    medianDaysToNextPurchase rhythmDays paidOrders totalSpend { amount currency } daysSinceLastPurchase
    survivalCurve { days survival }
    tier { name }
    orders(first: 10) { totalCount edges { node { externalId placedAt status totalAmount { amount currency } } } }
    communities(first: 5) { edges { node { joinedAt leftAt community { name } } } }
  }
}
"""


def setup(n: int) -> tuple[str, list[str]]:
    """A viewer token for the bench brand and a sample of customer global ids spread over the brand."""
    brand, plaintext = refresh_bench_brand(DB_URL, n, role="viewer", token_name="bench/graphql.py")
    from strawberry.relay import to_base64

    from apps.customers.models import Customer

    ids = list(Customer.objects.filter(brand=brand).values_list("pk", flat=True).order_by("?")[:5000])
    return plaintext, [to_base64("Customer", pk) for pk in ids]


class Client(threading.Thread):
    def __init__(self, token: str, ids: list[str], count: int, seed: int, results: dict):
        super().__init__(daemon=True)
        self.token, self.ids, self.count, self.results = token, ids, count, results
        self.rng = random.Random(seed)

    def run(self) -> None:
        conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        after = None
        for i in range(self.count):
            kind = ("list" if after else "first page") if i % 2 == 0 else "detail"
            if kind != "detail":  # like a list screen: the total on the first page, then page on
                body = {"query": LIST_QUERY if after else FIRST_PAGE_QUERY, "variables": {"after": after}}
            else:
                body = {"query": DETAIL_QUERY, "variables": {"id": self.rng.choice(self.ids)}}
            clock = time.perf_counter()
            try:
                conn.request("POST", "/graphql/", json.dumps(body), headers)
                response = conn.getresponse()
                payload = json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError) as error:
                self.results["failures"].append(f"{kind}: {type(error).__name__}")
                conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
                continue
            elapsed = (time.perf_counter() - clock) * 1000
            if response.status != 200 or payload.get("errors"):
                self.results["failures"].append(f"{kind}: {response.status} {payload.get('errors')}"[:300])
                continue
            self.results[kind].append(elapsed)
            if kind != "detail":  # page on through the brand, back to the first page now and then
                page = payload["data"]["customers"]["edges"]
                after = page[-1]["cursor"] if page and self.rng.random() < 0.9 else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000, help="In all, over every client.")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn sync workers (2 × cores + 1).")
    parser.add_argument(
        "--no-total",
        action="store_true",
        help="First pages without totalCount too (its COUNT over a million rows dominates the load).",
    )
    args = parser.parse_args()

    token, ids = setup(args.customers)
    if args.no_total:
        global FIRST_PAGE_QUERY
        FIRST_PAGE_QUERY = LIST_QUERY
    server = start_server(DB_URL, args.workers)
    try:
        results: dict[str, list] = {"first page": [], "list": [], "detail": [], "failures": []}
        warm = Client(
            token, ids, 2 * args.workers, 0, {"first page": [], "list": [], "detail": [], "failures": []}
        )
        warm.run()  # every worker connects and loads the schema before timing
        per_client = max(2, args.requests // args.clients)
        clients = [Client(token, ids, per_client, seed, results) for seed in range(1, args.clients + 1)]
        clock = time.perf_counter()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        wall = time.perf_counter() - clock
    finally:
        stop_server(server)

    print(
        f"{args.clients} clients, {args.workers} gunicorn workers, {args.customers:,} customers, "
        f"{sum(len(results[k]) for k in KINDS):,} requests in {wall:.1f} s"
    )
    met = True
    for kind in KINDS:
        values = np.array(results[kind])
        if values.size == 0:
            print(f"  {kind}: no successful requests")
            met = False
            continue
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        met &= p95 <= TARGET_P95_MS
        print(
            f"  {kind:<10} n={values.size:>5}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms  "
            f"{values.size / wall:6.1f} req/s"
        )
    if results["failures"]:
        print(f"  failures: {len(results['failures'])}, e.g. {results['failures'][0]}")
        met = False
    print(f"target p95 ≤ {TARGET_P95_MS:.0f} ms for every kind: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
