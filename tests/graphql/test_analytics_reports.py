"""Heavy analytics reports over GraphQL (analyst role): cohort retention, Kaplan-Meier curves with the log-rank
test, and stream performance. Small hand-made data; every expected value is worked out in the comments."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.analytics.selectors import cutoff_for
from tests.factories import (
    CommunityFactory,
    CommunityMembershipFactory,
    CustomerFactory,
    CustomerScoreFactory,
    ModelRunFactory,
    OrderFactory,
    StreamFactory,
    StreamViewFactory,
)
from tests.graphql.conftest import NEEDS_ANALYST, error_of, run_query
from tests.scenarios import gid

pytestmark = pytest.mark.django_db


def month_start(brand, months_back: int) -> datetime:
    """Noon on the 10th of the month `months_back` before this one, in the brand's time zone."""
    today = timezone.now().astimezone(brand.tzinfo)
    index = today.year * 12 + today.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 10, 12, tzinfo=brand.tzinfo)


# --- Cohort retention ------------------------------------------------------------------------------------------

COHORTS = """query($b: ID!, $by: CohortGrouping!, $periods: Int) {
  cohortRetention(brand: $b, by: $by, periods: $periods) {
    by periodUnit periods cohorts { key label start size retained retention } } }"""


def test_cohort_retention_by_first_order_month(as_role, brand, other_brand):
    m0, m1, m2 = (month_start(brand, n) for n in (2, 1, 0))  # m2 is the current month
    a, b, c, d = (CustomerFactory(brand=brand) for _ in range(4))
    e, f = CustomerFactory(brand=brand), CustomerFactory(brand=brand)
    for customer, when in [
        (a, m0),
        (a, m1),
        (a, m2),  # fmt: skip
        (b, m0),
        (b, m1),
        (c, m0),
        (c, m2),
        (c, m2 + timedelta(days=1)),
        (d, m0),
        (e, m1),
        (e, m2),
        (f, m1),
    ]:
        OrderFactory(brand=brand, customer=customer, placed_at=when)
    OrderFactory(brand=brand, customer=d, placed_at=m1, status="refunded")  # not a purchase
    OrderFactory(brand=other_brand, placed_at=m0)
    body = run_query(as_role("analyst"), COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH", periods=4)
    assert "errors" not in body, body
    data = body["data"]["cohortRetention"]
    assert (data["by"], data["periodUnit"], data["periods"]) == ("FIRST_ORDER_MONTH", "MONTH", 4)
    # m0: a, b, c, d; a and b bought in m1, a and c in m2; m3 has not started.  m1: e, f; e bought in m2.
    assert data["cohorts"] == [
        {
            "key": m0.strftime("%Y-%m"),
            "label": m0.strftime("%Y-%m"),
            "start": m0.date().replace(day=1).isoformat(),
            "size": 4,
            "retained": [4, 2, 2, None],
            "retention": [1.0, 0.5, 0.5, None],
        },
        {
            "key": m1.strftime("%Y-%m"),
            "label": m1.strftime("%Y-%m"),
            "start": m1.date().replace(day=1).isoformat(),
            "size": 2,
            "retained": [2, 1, None, None],
            "retention": [1.0, 0.5, None, None],
        },
    ]


def test_cohort_retention_by_acquisition_stream(as_role, brand):
    started = timezone.now() - timedelta(days=45)
    stream = StreamFactory(brand=brand, title="Spring launch", started_at=started)
    StreamFactory(brand=brand, started_at=started)  # acquired nobody: no cohort
    g, h, i = (CustomerFactory(brand=brand, acquisition_stream=stream) for _ in range(3))
    OrderFactory(brand=brand, customer=g, placed_at=started + timedelta(days=1))
    OrderFactory(brand=brand, customer=g, placed_at=started + timedelta(days=35))
    OrderFactory(brand=brand, customer=h, placed_at=started + timedelta(days=40))
    body = run_query(as_role("analyst"), COHORTS, b=gid("Brand", brand), by="ACQUISITION_STREAM", periods=3)
    data = body["data"]["cohortRetention"]
    assert data["periodUnit"] == "DAYS_30"
    # days 0-29: g; days 30-59: g and h; days 60-89 have not started (45 days ago)
    assert data["cohorts"] == [
        {
            "key": gid("Stream", stream),
            "label": "Spring launch",
            "start": started.astimezone(brand.tzinfo).date().isoformat(),
            "size": 3,
            "retained": [1, 2, None],
            "retention": [1 / 3, 2 / 3, None],
        }
    ]


def test_cohort_retention_arguments_and_roles(as_role, brand, other_brand):
    client = as_role("analyst")
    body = run_query(client, COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH", periods=0)
    assert error_of(body) == "Ask for 1 to 36 periods."
    body = run_query(as_role("viewer"), COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH")
    assert error_of(body) == NEEDS_ANALYST
    body = run_query(as_role("manager", other_brand), COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH")
    assert error_of(body) == "No such brand."


def test_cohort_retention_reads_the_dashboard_snapshot_while_it_is_valid(as_role, brand, monkeypatch):
    """First-order-month cohorts come from the paid orders the dashboard snapshot folded (at publish, or at
    the first read after the data changed), not from folding every order again per request; a new order
    changes the data version, so the next answer counts it."""
    from apps.analytics import reports
    from apps.analytics.models import DashboardSnapshot

    m0, m1 = month_start(brand, 1), month_start(brand, 0)
    a, b = CustomerFactory(brand=brand), CustomerFactory(brand=brand)
    OrderFactory(brand=brand, customer=a, placed_at=m0)
    OrderFactory(brand=brand, customer=b, placed_at=m0)
    client = as_role("analyst")
    first = run_query(client, COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH", periods=2)
    assert first["data"]["cohortRetention"]["cohorts"][0]["retained"] == [2, 0]
    assert DashboardSnapshot.objects.filter(brand=brand).exists()  # computed by that read, kept

    folded = []
    real = reports.paid_activity
    monkeypatch.setattr(reports, "paid_activity", lambda **kw: folded.append(1) or real(**kw))
    again = run_query(client, COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH", periods=3)
    assert again["data"]["cohortRetention"]["cohorts"][0]["retained"] == [2, 0, None]
    assert folded == []  # from the snapshot
    OrderFactory(brand=brand, customer=a, placed_at=m1)
    later = run_query(client, COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH", periods=4)
    assert later["data"]["cohortRetention"]["cohorts"][0]["retained"] == [2, 1, None, None]
    assert folded == [1]  # the snapshot was computed again, with the new order
    # refused arguments are refused before anything is read or computed
    assert error_of(run_query(client, COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH", periods=0))
    assert folded == [1]


# --- Kaplan-Meier --------------------------------------------------------------------------------------------------

KM = """query($b: ID!, $by: SurvivalGrouping!, $asOf: Date) { kaplanMeier(brand: $b, groupBy: $by, asOf: $asOf) {
  groupBy runId logRankPValue logRankChiSquare
  curves { group label customers events medianDays points { days survival atRisk events censored } } } }"""


@pytest.fixture
def followed(brand, other_brand):
    """A refresh as of 30 days ago scored four customers; after its cutoff the two community members bought
    on day 1 and day 2, the other two (one left the community before the cutoff) bought nothing."""
    as_of = timezone.now().astimezone(brand.tzinfo).date() - timedelta(days=30)
    run = ModelRunFactory(brand=brand, as_of=as_of)
    origin = cutoff_for(brand, as_of)
    community = CommunityFactory(brand=brand)
    members = [CustomerFactory(brand=brand) for _ in range(2)]
    others = [CustomerFactory(brand=brand) for _ in range(2)]
    for customer in members:
        CommunityMembershipFactory(
            brand=brand, community=community, customer=customer, joined_at=origin - timedelta(days=9)
        )
    CommunityMembershipFactory(
        brand=brand,
        community=community,
        customer=others[0],
        joined_at=origin - timedelta(days=20),
        left_at=origin - timedelta(days=1),
    )
    for days, customer in zip((1, 2), members, strict=True):
        OrderFactory(brand=brand, customer=customer, placed_at=origin + timedelta(days=days))
    OrderFactory(brand=brand, customer=others[1], placed_at=origin - timedelta(days=3))  # before time 0
    for customer, stage in zip(members + others, ["growth", "growth", "decline", "decline"], strict=True):
        CustomerScoreFactory(run=run, customer=customer, stage=stage)
    rival_run = ModelRunFactory(brand=other_brand, as_of=as_of)
    CustomerScoreFactory(run=rival_run)
    return {"run": run, "origin": origin}


def test_kaplan_meier_by_community_membership_with_the_log_rank_p_value(as_role, brand, followed):
    body = run_query(as_role("analyst"), KM, b=gid("Brand", brand), by="COMMUNITY_MEMBERSHIP")
    assert "errors" not in body, body
    data = body["data"]["kaplanMeier"]
    assert data["runId"] == gid("ModelRun", followed["run"])
    member, other = data["curves"]
    assert member == {
        "group": "member",
        "label": "Community member",
        "customers": 2,
        "events": 2,
        "medianDays": 1.0,
        "points": [
            {"days": 1.0, "survival": 0.5, "atRisk": 2, "events": 1, "censored": 0},
            {"days": 2.0, "survival": 0.0, "atRisk": 1, "events": 1, "censored": 0},
        ],
    }
    assert (other["group"], other["label"], other["customers"], other["events"], other["medianDays"]) == (
        "not_member",
        "Not in a community",
        2,
        0,
        None,
    )
    [censored] = other["points"]
    follow_up = (timezone.now() - followed["origin"]).total_seconds() / 86400
    assert censored["days"] == pytest.approx(follow_up, abs=0.01)
    assert (censored["survival"], censored["atRisk"], censored["censored"]) == (1.0, 2, 2)
    # Log-rank by hand: day 1: 4 at risk (2 members), 1 event: E = 1/2, V = 1·½·½·3/3 = 1/4;
    # day 2: 3 at risk (1 member), 1 event: E = 1/3, V = 1·⅓·⅔·2/2 = 2/9. O − E = 2 − 5/6 = 7/6,
    # V = 17/36, χ² = (7/6)² / (17/36) = 49/17, p = P(χ²₁ > 49/17) = erfc(√(49/34)).
    assert data["logRankChiSquare"] == pytest.approx(49 / 17)
    assert data["logRankPValue"] == pytest.approx(math.erfc(math.sqrt(49 / 34)))
    assert data["logRankPValue"] == pytest.approx(0.0896, abs=1e-4)


def test_kaplan_meier_by_stage_uses_the_runs_stages(as_role, brand, followed):
    data = run_query(as_role("analyst"), KM, b=gid("Brand", brand), by="STAGE")["data"]["kaplanMeier"]
    assert [(c["group"], c["label"], c["customers"], c["events"]) for c in data["curves"]] == [
        ("decline", "Decline", 2, 0),
        ("growth", "Growth", 2, 2),
    ]
    assert data["logRankChiSquare"] == pytest.approx(49 / 17)


def test_kaplan_meier_needs_kept_scores_and_the_analyst_role(as_role, brand, other_brand, followed):
    body = run_query(as_role("analyst"), KM, b=gid("Brand", brand), by="TIER", asOf="2020-01-01")
    assert error_of(body) == "No published scores yet for these dates."
    assert error_of(run_query(as_role("viewer"), KM, b=gid("Brand", brand), by="TIER")) == NEEDS_ANALYST
    body = run_query(as_role("analyst", other_brand), KM, b=gid("Brand", brand), by="TIER")
    assert error_of(body) == "No such brand."


# --- Stream performance ----------------------------------------------------------------------------------------------

STREAMS = """query($b: ID!, $from: Date!, $to: Date!) { streamPerformance(brand: $b, from: $from, to: $to) {
  streams { ...row stream { title } }
  total { ...row } } }
fragment row on StreamPerformance {
  streamId title startedAt viewers buyers viewerBuyers orders gmv { amount currency } conversionRate
  repurchasers72h repurchaseRate72h
  engagedViewers engagedBuyRate otherBuyRate engagementLift
  byWatchTime { band viewers buyers conversionRate } }"""

T = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def streams(brand, other_brand):
    """Stream S (2 hours from T) and a later stream S2 in March; one in February; one of Rival."""
    s = StreamFactory(brand=brand, title="S", started_at=T)
    s2 = StreamFactory(brand=brand, title="S2", started_at=T + timedelta(days=5))
    before = StreamFactory(brand=brand, started_at=datetime(2026, 2, 27, tzinfo=UTC))
    rival = StreamFactory(brand=other_brand, started_at=T)

    def view(stream, watch, comments=0, likes=0, shares=0, customer=None):
        return StreamViewFactory(
            brand=brand,
            stream=stream,
            watch_seconds=watch,
            comments=comments,
            likes=likes,
            shares=shares,
            **({"customer": customer} if customer else {}),
        ).customer

    v1 = view(s, 30)  # <1m
    v2 = view(s, 400, comments=3, likes=2, shares=1)  # 5-15m, 6 interactions
    view(s, 400, likes=5)  # 5-15m, 5 interactions, no purchase
    v4 = view(s, 2000, comments=1)  # 30m+
    v5 = view(s, 90)  # 1-5m
    n1 = CustomerFactory(brand=brand)  # bought in the stream without a view
    view(s2, 700)
    view(before, 700, customer=v1)
    end = T + timedelta(hours=2)
    for customer, amount, at, stream, status in [
        (v1, "100.00", T + timedelta(hours=1), s, "paid"),
        (v1, "20.00", end + timedelta(hours=10), None, "paid"),  # within 72 hours after the end
        (v2, "50.00", T + timedelta(minutes=30), s, "paid"),
        (v5, "200.00", T + timedelta(hours=1), s, "paid"),
        (v5, "20.00", end + timedelta(hours=80), None, "paid"),  # too late
        (n1, "30.00", T + timedelta(hours=1), s, "paid"),
        (v4, "999.00", T + timedelta(hours=1), s, "refunded"),
        (v1, "70.00", datetime(2026, 2, 27, 1, tzinfo=UTC), before, "paid"),
    ]:
        OrderFactory(
            brand=brand,
            customer=customer,
            total_amount=Decimal(amount),
            placed_at=at,
            stream=stream,
            status=status,
        )
    rival_view = StreamViewFactory(brand=other_brand, stream=rival)
    OrderFactory(brand=other_brand, customer=rival_view.customer, stream=rival, placed_at=T)
    return {"s": s, "s2": s2}


def bands(*rows):
    labels = ["<1m", "1-5m", "5-15m", "15-30m", "30m+"]
    return [
        {"band": label, "viewers": v, "buyers": b, "conversionRate": (b / v if v else None)}
        for label, (v, b) in zip(labels, rows, strict=True)
    ]


def test_stream_performance_per_stream_and_in_total(as_role, brand, streams):
    body = run_query(
        as_role("analyst"), STREAMS, b=gid("Brand", brand), **{"from": "2026-03-01", "to": "2026-03-31"}
    )
    assert "errors" not in body, body
    data = body["data"]["streamPerformance"]
    latest, first = data["streams"]
    # S: 5 viewers, 3 of them bought (v1, v2, v5); 4 buyers with n1; GMV 100 + 50 + 200 + 30;
    # only v1 bought again within 72 hours of the end: 1 / 4; 5+ interactions: v2 (bought) and v3 (not) → ½,
    # the other three viewers: v1 and v5 bought → ⅔; lift ½ / ⅔ = 0.75
    assert first == {
        "streamId": gid("Stream", streams["s"]),
        "stream": {"title": "S"},
        "title": "S",
        "startedAt": "2026-03-10T20:00:00+08:00",  # noon UTC, in the brand's time zone
        "viewers": 5,
        "buyers": 4,
        "viewerBuyers": 3,
        "orders": 4,
        "gmv": {"amount": "380.00", "currency": "CNY"},
        "conversionRate": 0.6,
        "repurchasers72h": 1,
        "repurchaseRate72h": 0.25,
        "engagedViewers": 2,
        "engagedBuyRate": 0.5,
        "otherBuyRate": pytest.approx(2 / 3),
        "engagementLift": pytest.approx(0.75),
        "byWatchTime": bands((1, 1), (1, 1), (2, 1), (0, 0), (1, 0)),
    }
    assert (latest["title"], latest["viewers"], latest["buyers"], latest["conversionRate"]) == (
        "S2",
        1,
        0,
        0.0,
    )
    assert latest["repurchaseRate72h"] is None
    # total over S and S2: 6 viewers, 3 bought; the others now 2 of 4 → lift 1.0
    total = data["total"]
    assert {
        k: total[k] for k in ("streamId", "viewers", "buyers", "viewerBuyers", "gmv", "conversionRate")
    } == {
        "streamId": None,
        "viewers": 6,
        "buyers": 4,
        "viewerBuyers": 3,
        "gmv": {"amount": "380.00", "currency": "CNY"},
        "conversionRate": 0.5,
    }
    assert (total["otherBuyRate"], total["engagementLift"], total["repurchaseRate72h"]) == (0.5, 1.0, 0.25)
    assert total["byWatchTime"] == bands((1, 1), (1, 1), (3, 1), (0, 0), (1, 0))


def test_stream_performance_roles_and_brands(as_role, brand, other_brand, streams):
    variables = {"b": gid("Brand", brand), "from": "2026-03-01", "to": "2026-03-31"}
    assert error_of(run_query(as_role("viewer"), STREAMS, **variables)) == NEEDS_ANALYST
    assert error_of(run_query(as_role("analyst", other_brand), STREAMS, **variables)) == "No such brand."
    rival = run_query(
        as_role("analyst", other_brand), STREAMS, **{**variables, "b": gid("Brand", other_brand)}
    )
    rows = rival["data"]["streamPerformance"]["streams"]
    assert [(r["viewers"], r["buyers"]) for r in rows] == [(1, 1)]
    body = run_query(as_role("analyst"), STREAMS, **{**variables, "from": "2026-04-01"})
    assert error_of(body) == "The start date is after the end date."


def test_reports_on_an_empty_brand_are_empty(as_role, brand):
    client = as_role("analyst")
    cohorts = run_query(client, COHORTS, b=gid("Brand", brand), by="FIRST_ORDER_MONTH")["data"][
        "cohortRetention"
    ]
    assert cohorts["cohorts"] == []
    body = run_query(client, STREAMS, b=gid("Brand", brand), **{"from": "2026-03-01", "to": "2026-03-31"})
    assert body["data"]["streamPerformance"]["streams"] == []
    assert body["data"]["streamPerformance"]["total"]["viewers"] == 0
    assert (
        error_of(run_query(client, KM, b=gid("Brand", brand), by="STAGE"))
        == "No published scores yet for these dates."
    )


def test_stream_funnel_labels_are_in_each_caller_s_language(as_role, brand, streams):
    # the read cache kept the first caller's labels: an English app got "全部直播" after a Chinese one asked
    from django.core.cache import cache

    cache.clear()
    client = as_role("analyst")
    query = """query($b: ID!) { streamFunnel(brand: $b, start: "2026-02-01", end: "2026-03-31", by: PLATFORM)
      { label streams } }"""

    def labels(language):
        response = client.post(
            "/graphql/",
            {"query": query, "variables": {"b": gid("Brand", brand)}},
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        body = response.json()
        assert "errors" not in body, body
        return [row["label"] for row in body["data"]["streamFunnel"]]

    chinese, english = labels("zh-hans"), labels("en")
    assert chinese[-1] == "全部直播" and english[-1] == "All streams"
    assert labels("zh-hans") == chinese and labels("en") == english
