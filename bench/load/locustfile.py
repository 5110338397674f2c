"""The clients of bench/load/run.py: frontend users of one brand's GraphQL API, as locust users.

Runs in the load virtualenv (.venv-load, bench/load/requirements.txt), never in the project's; everything it
needs comes from the JSON file named by LOAD_CONFIG, which run.py writes: the API token (analyst role), the
brand's global id, a sample of customer global ids spread over the brand, the stream date range, and the
mix (`scenario`: "mixed" for the product's reads, "bare" for the floor of the stack).

The mixed scenario reads as a brand's frontends do, with no think time (each user sends its next request as
soon as the last one is answered, so 20 users keep 20 requests in flight):

    list (4)       the customer list: a first page with totalCount under one of the list screen's filters,
                   then the next pages by cursor, back to a first page now and then
    detail (4)     a customer's 360 view (README's Customer360) of a customer drawn from the whole brand
    analytics (2)  one of the brand's reports (README's BrandAnalytics, one report per request)

A response with GraphQL errors or a status other than 200 is a failure, whatever its latency.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter, defaultdict

from locust import FastHttpUser, constant, events, task

CONFIG = json.loads(open(os.environ["LOAD_CONFIG"]).read())  # noqa: SIM115, PTH123 - read once at start
# per request name, how the API's response cache answered (its X-Response-Cache header: hit, miss, or
# none when the request is not cacheable), written to LOAD_CACHE_STATS when locust quits
CACHE_STATS: dict[str, Counter] = defaultdict(Counter)


@events.quitting.add_listener
def _cache_stats_write(environment, **_kwargs) -> None:
    path = os.environ.get("LOAD_CACHE_STATS")
    if path:
        with open(path, "w") as f:  # noqa: PTH123
            json.dump({name: dict(counts) for name, counts in CACHE_STATS.items()}, f)


LIST = """
query CustomerList($after: String, $filter: CustomerFilter, $count: Boolean!) {
  customers(first: 20, after: $after, filter: $filter, orderBy: {field: CLV, direction: DESC}) {
    totalCount @include(if: $count)
    pageInfo { hasNextPage endCursor }
    edges { node { id externalId stage rfmSegment churnProbability pPurchaseHorizon lastOrderAt
                   clv { amount currency } tier { name } } }
  }
}
"""
# the list screen's usual views: everyone, the at-risk high-value customers, growing ones, newcomers
FILTERS = (
    None,
    {"stages": ["DECLINE", "MATURITY"], "churnProbability": {"min": 0.6}},
    {"stages": ["GROWTH"]},
    {"stages": ["INTRODUCTION"]},
)

DETAIL = """
query Customer360($id: ID!) {
  customer(id: $id) {
    externalId phone phoneMasked stage stageRule churnProbability pPurchaseHorizon horizonDays
    clv { amount currency } expectedRevenueHorizon { amount currency } medianDaysToNextPurchase
    survivalCurve { days survival }
    hazardFactors { label hazardRatio effect }
    stageHistory { changedOn fromStage toStage rule }
    tier { name }
    orders(first: 5) { edges { node { externalId placedAt status totalAmount { amount currency } } } }
    communities(first: 5) { edges { node { joinedAt leftAt community { name } } } }
  }
}
"""

REPORTS = {
    "tierStageDistribution": """
query TierStage($brand: ID!) {
  tierStageDistribution(brand: $brand) { total cells { tierName stage customers } }
}""",
    "kaplanMeier": """
query Survival($brand: ID!) {
  kaplanMeier(brand: $brand, groupBy: STAGE) {
    logRankPValue curves { label customers events medianDays points { days survival } }
  }
}""",
    "cohortRetention": """
query Cohorts($brand: ID!) {
  cohortRetention(brand: $brand, by: FIRST_ORDER_MONTH, periods: 6) { cohorts { label size retention } }
}""",
    "streamPerformance": """
query Streams($brand: ID!, $from: Date!, $to: Date!) {
  streamPerformance(brand: $brand, from: $from, to: $to, first: 5) {
    streams { title startedAt viewers buyers gmv { amount currency } conversionRate repurchaseRate72h }
  }
}""",
    "atRiskCustomers": """
query AtRisk($brand: ID!) {
  atRiskCustomers(brand: $brand, first: 10) {
    totalCount
    customers { spendToDate { amount currency } churnProbability valueAtRisk { amount currency } stage
                customer { externalId } }
  }
}""",
}

BARE = "query Bare { __typename }"


class Frontend(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.after = None
        self.filter = None
        self.headers = {"Authorization": f"Bearer {CONFIG['token']}", "Content-Type": "application/json"}

    def post(self, name: str, query: str, variables: dict) -> dict | None:
        with self.client.post(
            "/graphql/",
            data=json.dumps({"query": query, "variables": variables}),
            headers=self.headers,
            name=name,
            catch_response=True,
        ) as response:
            try:
                payload = response.json()
            except ValueError:
                response.failure(f"status {response.status_code}, not JSON")
                return None
            if response.status_code != 200 or payload.get("errors"):
                response.failure(f"status {response.status_code}: {str(payload.get('errors'))[:200]}")
                return None
            CACHE_STATS[name][response.headers.get("X-Response-Cache") or "not cacheable"] += 1
            return payload["data"]

    @task(4)
    def customer_list(self) -> None:
        if CONFIG["scenario"] == "bare":
            self.post("bare", BARE, {})
            return
        first = self.after is None
        if first:
            self.filter = self.rng.choice(FILTERS)
        data = self.post(
            "list: first page" if first else "list: next page",
            LIST,
            {"after": self.after, "filter": self.filter, "count": first},
        )
        if data is None:
            self.after = None
            return
        info = data["customers"]["pageInfo"]
        # page on (a user reads a few pages), back to a first page now and then
        self.after = info["endCursor"] if info["hasNextPage"] and self.rng.random() < 0.8 else None

    @task(4)
    def customer_detail(self) -> None:
        if CONFIG["scenario"] == "bare":
            self.post("bare", BARE, {})
            return
        self.post("detail", DETAIL, {"id": self.rng.choice(CONFIG["customer_ids"])})

    @task(2)
    def analytics(self) -> None:
        if CONFIG["scenario"] == "bare":
            self.post("bare", BARE, {})
            return
        name = self.rng.choice(sorted(REPORTS))
        variables = {"brand": CONFIG["brand"]}
        if name == "streamPerformance":
            variables.update({"from": CONFIG["streams_from"], "to": CONFIG["streams_to"]})
        self.post(f"analytics: {name}", REPORTS[name], variables)
