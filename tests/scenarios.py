"""Hand-made worlds several test modules share (plain builders; their fixtures live in the conftests).

- `build_world`: the GraphQL world of tests/graphql (Acme with scored and unscored customers, orders, views,
  a community, tiers, history and a grant; Rival with one customer of each kind);
- `make_dashboard_brand`: a brand whose every dashboard figure is known by hand (tests/admin, tests/browser);
- `make_followup_shop`: a brand ready for follow-ups (tests/engagement, tests/graphql).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

from strawberry.relay import to_base64

from apps.analytics.models import StageChange
from apps.loyalty.models import TierChange
from tests.factories import (
    BenefitGrantFactory,
    CommunityFactory,
    CommunityMembershipFactory,
    CustomerFactory,
    FollowupRuleFactory,
    OrderFactory,
    OrderItemFactory,
    StreamFactory,
    StreamViewFactory,
    TierFactory,
    clv_percentiles_set,
    make_run,
    make_score,
)


def gid(type_name: str, obj_or_pk) -> str:
    """The relay global id of a row (or of a primary key)."""
    return to_base64(type_name, getattr(obj_or_pk, "pk", obj_or_pk))


def data(response):
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


@dataclass
class World:
    brand: object
    other: object
    c: dict = field(default_factory=dict)  # acme customers by key
    o: dict = field(default_factory=dict)  # acme orders
    s: dict = field(default_factory=dict)  # acme streams
    g: dict = field(default_factory=dict)  # acme communities
    t: dict = field(default_factory=dict)  # acme tiers
    r: dict = field(default_factory=dict)  # rival rows
    run: object = None


# the world's survival curve (P(no purchase yet) on the engine's day grid)
WORLD_CURVE = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3]


def build_world(brand, other_brand) -> World:
    w = World(brand=brand, other=other_brand)
    world_score = partial(make_score, survival_curve=WORLD_CURVE)
    w.s["launch"] = StreamFactory(
        brand=brand, external_id="S-LAUNCH", title="Spring launch", platform="douyin"
    )
    w.s["late"] = StreamFactory(
        brand=brand,
        external_id="S-LATE",
        title="Late night",
        platform="kuaishou",
        started_at=datetime(2026, 2, 1, 12, tzinfo=UTC),
    )
    w.c["alice"] = CustomerFactory(
        brand=brand,
        external_id="A-001",
        display_name="Alice Wang",
        phone="13812345678",
        acquisition_stream=w.s["launch"],
    )
    w.c["bob"] = CustomerFactory(brand=brand, external_id="A-002", display_name="Bob Li", phone="13900001111")
    w.c["cai"] = CustomerFactory(brand=brand, external_id="A-003", display_name="Cai Xin", phone="")
    w.t["gold"] = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    w.t["silver"] = TierFactory(brand=brand, code="silver", name="Silver", rank=2)
    # Alice: three paid orders (newest on 2026-03-20 Shanghai time) and one refunded; Bob: one in January
    for n, (day, status) in enumerate(
        [
            (date(2026, 1, 5), "paid"),
            (date(2026, 2, 10), "paid"),
            (date(2026, 3, 20), "paid"),
            (date(2026, 3, 25), "refunded"),
        ]
    ):
        w.o[f"alice{n}"] = OrderFactory(
            brand=brand,
            customer=w.c["alice"],
            external_id=f"O-A{n}",
            status=status,
            placed_at=datetime(day.year, day.month, day.day, 2, tzinfo=UTC),
            total_amount=Decimal(100 + n),
            stream=w.s["launch"] if n == 0 else None,
        )
    OrderItemFactory(brand=brand, order=w.o["alice2"], line_no=2, sku="SKU-B", unit_price=Decimal("60.00"))
    OrderItemFactory(brand=brand, order=w.o["alice2"], line_no=1, sku="SKU-A", unit_price=Decimal("42.00"))
    w.o["bob0"] = OrderFactory(
        brand=brand,
        customer=w.c["bob"],
        external_id="O-B0",
        placed_at=datetime(2026, 1, 15, 3, tzinfo=UTC),
        total_amount=Decimal("55.00"),
    )
    StreamViewFactory(
        brand=brand, stream=w.s["launch"], customer=w.c["alice"], watch_seconds=900, comments=3, likes=2
    )
    StreamViewFactory(
        brand=brand,
        stream=w.s["late"],
        customer=w.c["alice"],
        watch_seconds=60,
        joined_at=datetime(2026, 2, 1, 12, tzinfo=UTC),
    )
    w.g["fans"] = CommunityFactory(brand=brand, external_id="G-FANS", name="Acme fans", kind="wecom")
    CommunityMembershipFactory(brand=brand, community=w.g["fans"], customer=w.c["alice"], activity_count=7)
    CommunityMembershipFactory(
        brand=brand,
        community=w.g["fans"],
        customer=w.c["bob"],
        joined_at=datetime(2026, 1, 1, tzinfo=UTC),
        left_at=datetime(2026, 2, 1, tzinfo=UTC),
    )
    # an older run (superseded) whose scores must never show, and the published one
    old = make_run(brand, status="superseded", as_of=date(2026, 2, 28))
    world_score(
        old,
        w.c["alice"],
        stage="introduction",
        clv=Decimal("1.00"),
        churn_probability=0.99,
        p_purchase_horizon=0.01,
    )
    w.run = make_run(brand)
    world_score(
        w.run,
        w.c["alice"],
        stage="maturity",
        stage_rule="maturity_orders",
        tier=w.t["gold"],
        rfm_segment="champions",
        rfm_recency=5,
        rfm_frequency=4,
        rfm_monetary=5,
        orders_count=3,
        monetary_total=Decimal("303.00"),
        churn_probability=0.1,
        p_purchase_horizon=0.9,
        expected_revenue_horizon=Decimal("250.50"),
        clv=Decimal("800.00"),
        median_days_to_next_purchase=12.5,
        rhythm_days=18.0,
    )
    world_score(
        w.run,
        w.c["bob"],
        stage="decline",
        stage_rule="decline_gap",
        tier=w.t["silver"],
        rfm_segment="at_risk",
        churn_probability=0.7,
        p_purchase_horizon=0.3,
        clv=Decimal("100.00"),
        monetary_total=Decimal("198.00"),
        expected_revenue_horizon=Decimal("120.00"),
        median_days_to_next_purchase=None,
    )
    StageChange.objects.create(
        brand=brand,
        customer=w.c["alice"],
        run=w.run,
        from_stage="growth",
        to_stage="maturity",
        changed_on=date(2026, 3, 31),
        rule="maturity_orders",
    )
    TierChange.objects.create(
        brand=brand,
        customer=w.c["alice"],
        from_tier=w.t["silver"],
        to_tier=w.t["gold"],
        changed_at=datetime(2026, 4, 1, tzinfo=UTC),
        reason="rule:gold",
    )
    BenefitGrantFactory(brand=brand, customer=w.c["alice"], note="welcome gift")

    # Rival: one scored customer with an order, a view, a community and history of its own
    rs = StreamFactory(brand=other_brand, external_id="S-RIVAL", title="Rival show")
    rc = CustomerFactory(
        brand=other_brand,
        external_id="R-001",
        display_name="Rita",
        phone="13700002222",
        acquisition_stream=rs,
    )
    ro = OrderFactory(brand=other_brand, customer=rc, external_id="O-R0", total_amount=Decimal("999.00"))
    StreamViewFactory(brand=other_brand, stream=rs, customer=rc)
    rg = CommunityFactory(brand=other_brand, external_id="G-RIVAL", name="Rival club")
    CommunityMembershipFactory(brand=other_brand, community=rg, customer=rc)
    rt = TierFactory(brand=other_brand, code="vip", name="VIP", rank=1)
    rrun = make_run(other_brand)
    world_score(rrun, rc, stage="maturity", tier=rt, clv=Decimal("5000.00"), churn_probability=0.05)
    BenefitGrantFactory(brand=other_brand, customer=rc, note="rival gift")
    w.r = {"customer": rc, "order": ro, "stream": rs, "community": rg, "tier": rt, "run": rrun}
    clv_percentiles_set(w.run)
    clv_percentiles_set(rrun)
    return w


RIVAL_MARKERS = (
    "R-001",
    "Rita",
    "13700002222",
    "O-R0",
    "S-RIVAL",
    "Rival show",
    "G-RIVAL",
    "Rival club",
    "VIP",
    "rival gift",
    "5000",
)


def assert_no_rival(body, w: World):
    text = json.dumps(body, ensure_ascii=False)
    for marker in RIVAL_MARKERS:
        assert marker not in text, marker
    for key in ("customer", "order", "stream", "community", "tier"):
        type_name = {
            "customer": "Customer",
            "order": "Order",
            "stream": "Stream",
            "community": "Community",
            "tier": "Tier",
        }[key]
        assert gid(type_name, w.r[key].pk) not in text


# --- the dashboard brand ---------------------------------------------------------------------------------

CHARTS = [
    "chart-distribution",
    "chart-cohorts",
    "chart-survival",
    "chart-gmv",
    "chart-repurchase",
    "chart-streams",
]


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def make_dashboard_brand(brand, prefix="D"):
    """Five scored customers of `brand` (one per stage), their paid orders over January to April 2026, two
    streams and a published run (as of 2026-03-31) whose metrics call for warnings.

    By hand: GMV Jan 150 (2 buyers, no repeat), Feb 140 (2 buyers, both repeat), Mar 80 (1, no repeat),
    Apr 60 (1, repeat); cohorts Jan {C1, C2} → Feb 50%, Feb {C3} → Apr; stream 1's buyer (C3) bought again
    within 72 hours, stream 2's (C2) did not: 1 of 2; at risk (CLV in the top 20%, churn ≥ 50%): C5 only;
    after the run's cutoff (2026-04-01) only C3 (maturity) bought."""
    gold = TierFactory(brand=brand, code=f"{prefix.lower()}-gold", name=f"{prefix} Gold", rank=1)
    silver = TierFactory(brand=brand, code=f"{prefix.lower()}-silver", name=f"{prefix} Silver", rank=2)
    s1 = StreamFactory(brand=brand, title=f"{prefix} launch", started_at=at(2, 5, 10), ended_at=at(2, 5, 12))
    s2 = StreamFactory(
        brand=brand, title=f"{prefix} encore", started_at=at(2, 20, 10), ended_at=at(2, 20, 12)
    )
    run = make_run(
        brand,
        customers_scored=5,
        metrics={
            "overall": {
                "model": {"harrell_c": 0.55, "auc_horizon": 0.58, "customers": 5, "buyers_in_horizon": 1},
                "naive_rfm": {"harrell_c": 0.52},
            }
        },
        data_sufficiency={
            "growth": {"rows": 40, "events": 12, "model": "coxph", "features_dropped": []},
            "decline": {"rows": 9, "events": 3, "model": "kaplan_meier", "features_dropped": []},
        },
        settings_snapshot={"min_stage_events": 30},
    )
    specs = [
        # name, stage, tier, churn, clv (and spend to date)
        ("C1", "introduction", None, 0.10, 100),
        ("C2", "growth", silver, 0.30, 200),
        ("C3", "maturity", silver, 0.20, 300),
        ("C4", "decline", gold, 0.60, 400),
        ("C5", "churned", gold, 0.90, 500),
    ]
    customers = {}
    for name, stage, tier, churn, clv in specs:
        customer = CustomerFactory(brand=brand, external_id=f"{prefix}-{name}")
        make_score(run, customer, stage=stage, tier=tier, churn=churn, clv=clv, monetary_total=clv)
        customers[name] = customer
    clv_percentiles_set(run)
    orders = [
        ("C1", at(1, 10), 100, None, "paid"),
        ("C2", at(1, 15), 50, None, "paid"),
        ("C2", at(2, 20, 11), 70, s2, "paid"),
        ("C3", at(2, 5, 11), 30, s1, "paid"),
        ("C3", at(2, 7), 40, None, "paid"),
        ("C4", at(3, 3), 80, None, "paid"),
        ("C5", at(3, 10), 999, None, "refunded"),
        ("C3", at(4, 10), 60, None, "paid"),
    ]
    for i, (name, when, amount, stream, status) in enumerate(orders):
        OrderFactory(
            brand=brand,
            customer=customers[name],
            external_id=f"{prefix}-O{i}",
            placed_at=when,
            total_amount=amount,
            stream=stream,
            status=status,
        )
    return SimpleNamespace(run=run, customers=customers, gold=gold, silver=silver, streams=[s1, s2])


# --- follow-ups ---------------------------------------------------------------------------------------------

FOLLOWUP_ENDED = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
FOLLOWUP_PLANNED_AT = FOLLOWUP_ENDED + timedelta(hours=1)


def make_followup_shop(brand) -> SimpleNamespace:
    """A brand ready for follow-ups: contact policy without a holdout, one viewer rule on SMS ("viewers"),
    and stream S1 that ended at 12:00 Shanghai time on 2026-05-01. `viewer(consent=True, **fields)` adds a
    customer who watched it (15 minutes unless watch_seconds is given)."""
    from apps.engagement.services import contact_policy_ensure

    policy = contact_policy_ensure(brand=brand)
    policy.holdout_percent = Decimal("0")
    policy.save()
    rule = FollowupRuleFactory(brand=brand, name="viewers", channels=["sms"])
    stream = StreamFactory(
        brand=brand, external_id="S1", started_at=FOLLOWUP_ENDED - timedelta(hours=2), ended_at=FOLLOWUP_ENDED
    )

    def viewer(consent=True, **fields):
        watch = fields.pop("watch_seconds", 900)
        customer = CustomerFactory(brand=brand, marketing_consent=consent, **fields)
        StreamViewFactory(brand=brand, stream=stream, customer=customer, watch_seconds=watch)
        return customer

    return SimpleNamespace(brand=brand, policy=policy, rule=rule, stream=stream, viewer=viewer)


def cox_engine_attach(run, stage: str, coef: dict[str, float]) -> dict:
    """Give `run` a fitted engine whose `stage` model is a Cox model with these coefficients (0.01 for the
    other features; centre 0.5 + 0.1 j, scale 1 + 0.05 j), as a refresh pickles it, so hazard factors can be
    explained without fitting anything. Returns the arrays used."""
    import pickle

    import numpy as np

    from apps.analytics.features import FEATURE_NAMES
    from apps.analytics.survival.engine import Engine, StageFit
    from apps.analytics.survival.models import SurvivalModel
    from apps.analytics.survival.stages import StageRules

    n = len(FEATURE_NAMES)
    arrays = {
        "coef": [coef.get(f, 0.01 * (j % 3)) for j, f in enumerate(FEATURE_NAMES)],
        "center": [0.5 + 0.1 * j for j in range(n)],
        "scale": [1.0 + 0.05 * j for j in range(n)],
    }
    model = SurvivalModel(
        kind="coxph",
        features=tuple(FEATURE_NAMES),
        dropped_features=(),
        center=np.asarray(arrays["center"], float),
        scale=np.asarray(arrays["scale"], float),
        n_samples=500,
        n_events=300,
        coef=np.asarray(arrays["coef"], float),
    )
    engine = Engine(
        rules=StageRules(),
        estimator="coxph",
        params={},
        brand_rhythm=30.0,
        features=list(FEATURE_NAMES),
        stages={stage: StageFit(stage, 500, 300, "coxph", model)},
    )
    run.engine = pickle.dumps(engine)
    run.stage_models = engine.hazard_ratios()
    run.save()
    return arrays
