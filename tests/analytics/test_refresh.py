"""The refresh end to end on PostgreSQL: honest predictions, published atomically, never leaking."""

import csv
from datetime import timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest
from django.core.management import call_command

from apps.analytics import selectors
from apps.analytics.models import CustomerScore, ModelRun, RunStatus, ScoringConfig, StageChange
from apps.analytics.services import (
    LOCK_NAMESPACE,
    RefreshSkipped,
    model_run_execute,
    model_run_publish,
    scores_refresh,
)
from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.loyalty.selectors import customer_current_tiers
from apps.orders.models import Order
from apps.streams.models import Stream, StreamView
from tests.analytics.conftest import AS_OF
from tests.db import connect_kwargs
from tests.factories import BrandFactory, CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def scores_by_customer(run):
    return {
        s["customer_id"]: s
        for s in CustomerScore.objects.filter(run=run).values(
            "customer_id",
            "stage",
            "p_purchase_horizon",
            "churn_probability",
            "clv",
            "expected_revenue_horizon",
            "median_days_to_next_purchase",
            "survival_curve",
            "rfm_segment",
        )
    }


def test_refresh_scores_every_buyer_and_publishes_with_metrics_and_baselines(demo_brand):
    # when (the step the run is at is read back from the database as each step starts)
    seen = []

    def progress(name):
        seen.append(ModelRun.objects.filter(brand=demo_brand).values_list("phase", flat=True).get())

    run = scores_refresh(brand=demo_brand, as_of=AS_OF, triggered_by="test", progress=progress)
    # then the run is published and scores everyone with a paid purchase up to the as-of date
    assert run.status == RunStatus.PUBLISHED
    # its progress was on the run while it went, in order, and is cleared once it has finished
    steps = list(dict.fromkeys(seen))
    for earlier, later in [("fit", "predict"), ("predict", "write scores"), ("write scores", "publish")]:
        assert steps.index(earlier) < steps.index(later), steps
    assert any(step.endswith(": fit") for step in steps[: steps.index("fit")])  # the holdout comes first
    assert ModelRun.objects.get(pk=run.pk).phase == run.phase == ""
    buyers = (
        Order.objects.filter(brand=demo_brand, status="paid", placed_at__lt=run.cutoff)
        .values("customer_id")
        .distinct()
        .count()
    )
    assert run.customers_scored == buyers == CustomerScore.objects.filter(run=run).count()
    assert selectors.published_run(brand=demo_brand) == run
    for score in CustomerScore.objects.filter(run=run)[:200]:
        assert 0 <= score.p_purchase_horizon <= 1
        assert score.churn_probability == pytest.approx(1 - score.p_purchase_horizon, abs=1e-5)
        assert score.clv >= 0 and score.expected_revenue_horizon >= 0
        assert len(score.survival_curve) == 13
        assert all(
            a >= b - 1e-9 for a, b in zip(score.survival_curve, score.survival_curve[1:], strict=False)
        )
        assert score.last_purchase_at < run.cutoff
    # metrics on held-out time, with the three baselines beside the model, over the full window
    overall = run.metrics["overall"]
    assert set(overall) == {"model", "kaplan_meier_by_stage", "naive_rfm", "classic"}
    assert run.metrics["holdout"]["status"] == "full"
    for baseline in ("kaplan_meier_by_stage", "naive_rfm", "classic"):
        assert overall[baseline]["auc_horizon"] is not None, baseline
    for key in ("harrell_c", "uno_c", "auc_horizon", "brier_horizon", "ece_horizon", "integrated_brier"):
        assert overall["model"][key] is not None, key
    assert overall["model"]["harrell_c"] > 0.6
    assert set(run.data_sufficiency) == {
        "introduction",
        "growth",
        "maturity",
        "decline",
        "churned",
        "history",
    }
    assert run.data_sufficiency["history"]["buyers"] == buyers
    assert {"purchase window", "fit", "predict", "write scores", "publish", "planner statistics"} <= set(
        run.timings
    )
    assert any(row["feature"] == "community_member" for rows in run.stage_models.values() for row in rows)


def test_adding_data_after_the_as_of_date_changes_no_score(demo_brand):
    # given a published run as of AS_OF
    first = scores_refresh(brand=demo_brand, as_of=AS_OF)
    before = scores_by_customer(first)
    # when orders, views and memberships dated after the cutoff are added for existing customers
    later = first.cutoff + timedelta(hours=1)
    customers = list({s.customer_id for s in CustomerScore.objects.filter(run=first)})[:100]
    stream = Stream.objects.create(brand=demo_brand, external_id="LATE", started_at=later, ended_at=later)
    community = Community.objects.create(brand=demo_brand, external_id="LATE", name="late")
    for i, customer_id in enumerate(customers):
        Order.objects.create(
            brand=demo_brand,
            customer_id=customer_id,
            external_id=f"late-{i}",
            placed_at=later,
            total_amount=999,
            stream=stream,
        )
        StreamView.objects.create(
            brand=demo_brand,
            stream=stream,
            customer_id=customer_id,
            joined_at=later,
            watch_seconds=9000,
            comments=20,
        )
        CommunityMembership.objects.create(
            brand=demo_brand, community=community, customer_id=customer_id, joined_at=later
        )
    # and the refresh is run again for the same as-of date
    second = scores_refresh(brand=demo_brand, as_of=AS_OF)
    # then every score is the same
    assert scores_by_customer(second) == before
    assert second.metrics["overall"]["model"] == first.metrics["overall"]["model"]


def test_readers_see_the_previous_run_until_publish_and_a_failed_run_changes_nothing(demo_brand, monkeypatch):
    first = scores_refresh(brand=demo_brand, as_of=AS_OF)
    published_before = scores_by_customer(first)
    # a second run written aside but not published
    pending = ModelRun.objects.create(
        brand=demo_brand,
        as_of=AS_OF + timedelta(days=7),
        cutoff=selectors.cutoff_for(demo_brand, AS_OF + timedelta(days=7)),
        horizon_days=90,
        estimator="coxph",
    )
    model_run_execute(run=pending)
    assert pending.status == RunStatus.SUCCEEDED and pending.customers_scored > 0
    assert selectors.published_run(brand=demo_brand) == first
    assert {s.customer_id for s in selectors.published_scores(brand=demo_brand)} == set(published_before)
    # publishing flips readers over and records stage changes only for customers whose stage moved
    model_run_publish(run=pending)
    first.refresh_from_db()
    assert first.status == RunStatus.SUPERSEDED
    assert set(selectors.published_scores(brand=demo_brand).values_list("run_id", flat=True)) == {pending.pk}
    changes = StageChange.objects.filter(run=pending)
    new_scores = scores_by_customer(pending)
    moved = {
        c
        for c, s in new_scores.items()
        if c not in published_before or published_before[c]["stage"] != s["stage"]
    }
    assert set(changes.values_list("customer_id", flat=True)) == moved
    # a run that dies while scoring leaves the published scores as they were
    import apps.analytics.services as services

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(services, "predict_frame_prepare", boom)
    with pytest.raises(RuntimeError):
        scores_refresh(brand=demo_brand, as_of=AS_OF + timedelta(days=14))
    failed = ModelRun.objects.latest("pk")
    assert failed.status == RunStatus.FAILED and "killed" in failed.message
    assert not CustomerScore.objects.filter(run=failed).exists()
    assert selectors.published_run(brand=demo_brand) == pending


def test_a_second_refresh_of_the_same_brand_is_skipped_while_one_holds_the_lock(demo_brand):
    with psycopg.connect(**connect_kwargs(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, demo_brand.pk])
        with pytest.raises(RefreshSkipped, match="Another refresh of this brand is running"):
            scores_refresh(brand=demo_brand, as_of=AS_OF)
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, demo_brand.pk])
    assert not ModelRun.objects.filter(brand=demo_brand).exists()
    assert scores_refresh(brand=demo_brand, as_of=AS_OF).status == RunStatus.PUBLISHED


def test_a_queued_request_is_filled_by_its_task_and_answers_the_others_waiting(demo_brand):
    """The PENDING runs created by requests (scores_refresh_request with a broker): the refresh of one fills
    that run; the others still waiting are answered by it; a request whose run was answered does nothing;
    a queued run that meets the lock says it was skipped."""
    waiting = [
        ModelRun.objects.create(
            brand=demo_brand,
            status=RunStatus.PENDING,
            as_of=AS_OF,
            cutoff=selectors.cutoff_for(demo_brand, AS_OF),
            horizon_days=90,
            estimator="coxph",
            phase="queued",
        )
        for _ in range(3)
    ]
    with psycopg.connect(**connect_kwargs(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, demo_brand.pk])
        with pytest.raises(RefreshSkipped):
            scores_refresh(brand=demo_brand, as_of=AS_OF, queued=waiting[2])
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, demo_brand.pk])
    waiting[2].refresh_from_db()
    assert waiting[2].status == RunStatus.SKIPPED and "Another refresh" in waiting[2].message
    run = scores_refresh(brand=demo_brand, as_of=AS_OF, queued=waiting[0], triggered_by="admin:x")
    assert run.pk == waiting[0].pk and run.status == RunStatus.PUBLISHED and run.phase == ""
    waiting[1].refresh_from_db()
    assert (waiting[1].status, waiting[1].message) == (
        RunStatus.SKIPPED,
        "Answered by a later refresh of the brand.",
    )
    with pytest.raises(RefreshSkipped, match="is no longer waiting"):
        scores_refresh(brand=demo_brand, as_of=AS_OF, queued=waiting[1])
    assert ModelRun.objects.filter(brand=demo_brand).count() == 3


def test_a_brand_with_too_little_data_is_skipped_with_a_reason():
    brand = BrandFactory(slug="tiny")
    assert scores_refresh(brand=brand, as_of=AS_OF).message == (
        f"No paid purchase up to {AS_OF}: there is nothing to score yet."
    )
    customers = [CustomerFactory(brand=brand) for _ in range(5)]
    for customer in customers:
        OrderFactory(brand=brand, customer=customer)
    run = scores_refresh(brand=brand, as_of=AS_OF)
    assert run.status == RunStatus.SKIPPED
    assert run.message == (
        f"Nobody has bought twice up to {AS_OF} (5 buyers): no model of buying again can be fitted yet."
    )
    OrderFactory(brand=brand, customer=customers[0])
    run = scores_refresh(brand=brand, as_of=AS_OF)
    assert run.message == f"Only 5 buyers up to {AS_OF}; at least 20 are needed."
    assert run.data_sufficiency["history"]["repeat_purchases"] == 1
    assert selectors.published_run(brand=brand) is None


def test_commands_refresh_and_export(demo_brand, tmp_path, capsys):
    call_command("refresh_scores", "--brand", "demo", "--as-of", AS_OF.isoformat(), "--horizon-days", "60")
    out = capsys.readouterr().out
    run = selectors.published_run(brand=demo_brand)
    assert run.horizon_days == 60
    assert f"Run {run.pk} published: {run.customers_scored} customers scored as of {AS_OF}" in out
    # each phase named as the run's page names it (in the language), not by its internal key
    from apps.analytics.runs import phase_label

    assert run.timings and all(f"  {phase_label(phase):<24}" in out for phase in run.timings)
    assert "held-out time: fit" in out and "holdout: fit" not in out
    path = tmp_path / "scores.csv"
    call_command("export_scores", "--brand", "demo", "--output", str(path))
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "customer_id",
        "stage",
        "tier",
        "rfm_segment",
        "p_purchase_horizon",
        "churn_probability",
        "expected_revenue_horizon",
        "clv",
        "median_days_to_next_purchase",
        "expected_next_order_on",
        "model_run",
    ]
    assert len(rows) == run.customers_scored
    assert {r["model_run"] for r in rows} == {str(run.pk)}
    # the expected date of the next order is the as-of day plus the median, never in the past, empty beyond a year
    for row in rows:
        if row["median_days_to_next_purchase"]:
            days = int(float(row["median_days_to_next_purchase"]))
            assert row["expected_next_order_on"] == (AS_OF + timedelta(days=days)).isoformat()
            assert row["expected_next_order_on"] > AS_OF.isoformat()
        else:
            assert row["expected_next_order_on"] == ""
    assert {r["stage"] for r in rows} <= {"introduction", "growth", "maturity", "decline", "churned"}


def test_stage_rules_are_the_brands_own(demo_brand):
    # given a brand that calls a customer churned much sooner
    config, _ = ScoringConfig.objects.get_or_create(brand=demo_brand)
    config.decline_gap_ratio, config.churn_gap_ratio = 0.5, 1.0
    config.save()
    run = scores_refresh(brand=demo_brand, as_of=AS_OF)
    scores = CustomerScore.objects.filter(run=run)
    for score in scores.filter(stage_rule="churn_gap")[:50]:
        assert score.days_since_last_purchase > 1.0 * score.rhythm_days
    for score in scores.filter(stage="maturity")[:50]:
        assert score.orders_count >= config.maturity_min_orders
        assert score.days_since_last_purchase <= 0.5 * score.rhythm_days
    assert run.settings_snapshot["churn_gap_ratio"] == "1.00"


def test_publishing_tiers_everyone_by_the_rules_with_history_and_benefits(demo_brand):
    from apps.loyalty.models import BenefitGrant, TierChange

    # when the first refresh is published
    run = scores_refresh(brand=demo_brand, as_of=AS_OF)
    scores = CustomerScore.objects.filter(run=run)
    opted_out = scores.filter(customer__automated_decisions_opt_out=True)
    # then every customer who accepts automated decisions has a tier, and the opted-out have none
    assert not scores.filter(tier__isnull=True, customer__automated_decisions_opt_out=False).exists()
    assert not opted_out.filter(tier__isnull=False).exists()
    assert set(scores.values_list("tier__code", flat=True)) >= {"high", "potential", "basic"}
    # the high tier follows its default rule: churn probability at most 0.6
    assert scores.filter(tier__code="high").exists()
    assert not scores.filter(tier__code="high", churn_probability__gt=0.6).exists()
    # history and benefits were written, and the run says how much
    changes = TierChange.objects.filter(brand=demo_brand, run_id=run.pk)
    assert changes.count() == scores.count() - opted_out.count() == run.params["tiers"]["changes"]
    grants = BenefitGrant.objects.filter(brand=demo_brand, source="tier")
    assert grants.count() == run.params["tiers"]["grants_created"] > 0
    assert not grants.filter(customer__automated_decisions_opt_out=True).exists()
    # a second refresh for the same date changes no tier and grants nothing new
    again = scores_refresh(brand=demo_brand, as_of=AS_OF)
    assert again.params["tiers"] == {"changes": 0, "grants_created": 0, "grants_revoked": 0, "in_grace": 0}
    published_tiers = dict(CustomerScore.objects.filter(run=again).values_list("customer_id", "tier_id"))
    assert published_tiers == dict(scores.values_list("customer_id", "tier_id"))
    # and the tier history says the same for every scored customer (the opted-out never had one)
    history = customer_current_tiers(brand=demo_brand).set_index("customer_id")["tier_id"]
    assert {c: (None if pd.isna(t) else int(t)) for c, t in history.items()} == {
        c: t for c, t in published_tiers.items() if t is not None
    }


def test_stage_transition_matrix_between_two_dates(demo_brand):
    first = scores_refresh(brand=demo_brand, as_of=AS_OF - timedelta(days=60))
    second = scores_refresh(brand=demo_brand, as_of=AS_OF)
    result = selectors.stage_transition_matrix(brand=demo_brand, start=AS_OF - timedelta(days=45), end=AS_OF)
    assert (result["from_run"], result["to_run"]) == (first.pk, second.pk)
    matrix = result["matrix"]
    # every customer scored at the later date is counted once, by where they were at the earlier one
    assert sum(sum(row.values()) for row in matrix.values()) == second.customers_scored
    assert sum(matrix[""].values()) == second.customers_scored - first.customers_scored  # new buyers
    before = dict(CustomerScore.objects.filter(run=first).values_list("customer_id", "stage"))
    after = dict(CustomerScore.objects.filter(run=second).values_list("customer_id", "stage"))
    stayed_mature = sum(1 for c, s in after.items() if s == "maturity" and before.get(c) == "maturity")
    assert matrix["maturity"]["maturity"] == stayed_mature
    with pytest.raises(ValueError, match="no published scores as of"):
        selectors.stage_transition_matrix(brand=demo_brand, start=AS_OF, end=AS_OF - timedelta(days=400))


def test_hazard_factors_read_as_staff_words(demo_brand):
    run = scores_refresh(brand=demo_brand, as_of=AS_OF)
    factors = selectors.hazard_factors(run=run, stage="maturity")
    community = next(f for f in factors if f["feature"] == "community_member")
    assert community["label"] == "member of a community" and community["per"] == "unit"
    assert community["direction"] == (
        "more_likely_to_buy" if community["hazard_ratio"] > 1 else "less_likely_to_buy"
    )
    strengths = [abs(np.log(f["hazard_ratio"])) for f in factors]
    assert strengths == sorted(strengths, reverse=True)


def test_each_score_keeps_the_covariates_its_hazard_factors_are_read_from(demo_brand, monkeypatch):
    """A refresh keeps each customer's strongest covariates with their score: their hazard factors are then
    read without a feature query, and are those the customer's features at the cutoff give."""
    from apps.customers.graphql import scores as customer_scores

    run = scores_refresh(brand=demo_brand, as_of=AS_OF)
    rows = list(
        CustomerScore.objects.filter(run=run)
        .order_by("customer_id")
        .values_list("customer_id", "stage", "top_covariates")
    )
    assert rows and all(stored is not None for _c, _s, stored in rows)
    engine_stages = customer_scores._run_engine(run.pk).stages
    cox = [row for row in rows if row[1] in engine_stages and engine_stages[row[1]].model.coef is not None]
    assert len(cox) > 100
    assert all(len(stored) == 5 for _c, _s, stored in cox)
    sample = cox[:: max(1, len(cox) // 40)]
    recomputed = {
        customer_id: customer_scores.customer_hazard_factors(
            customer_id=customer_id, run_id=run.pk, stage=stage
        )
        for customer_id, stage, _stored in sample
    }

    def no_feature_query(**_kwargs):
        raise AssertionError("stored covariates need no feature query")

    monkeypatch.setattr(selectors, "customer_frame", no_feature_query)
    for customer_id, stage, stored in sample:
        factors = customer_scores.customer_hazard_factors(
            customer_id=customer_id, run_id=run.pk, stage=stage, stored=stored
        )
        expected = recomputed[customer_id]
        assert [f["feature"] for f in factors] == [f["feature"] for f in expected]
        for got, want in zip(factors, expected, strict=True):
            assert got["value"] == pytest.approx(want["value"], abs=1e-6)
            assert got["hazard_ratio"] == pytest.approx(want["hazard_ratio"], rel=1e-5)


def test_one_purchase_window_serves_earlier_cutoffs_exactly(demo_brand):
    import pandas as pd

    late = selectors.cutoff_for(demo_brand, AS_OF)
    early = late - timedelta(days=120)
    direct = (
        selectors.gap_frame(brand=demo_brand, cutoff=early),
        selectors.customer_frame(brand=demo_brand, cutoff=early),
    )
    with selectors.purchase_window(brand=demo_brand, cutoff=late):
        shared = (
            selectors.gap_frame(brand=demo_brand, cutoff=early),
            selectors.customer_frame(brand=demo_brand, cutoff=early),
        )
    for a, b in zip(direct, shared, strict=True):
        assert len(a) > 0
        pd.testing.assert_frame_equal(
            a.sort_values("anchor_id").reset_index(drop=True),
            b.sort_values("anchor_id").reset_index(drop=True),
        )
    # and nothing after the early cutoff is in it: no purchase, and no next purchase beyond it
    assert (shared[0]["t"] <= early.timestamp()).all()
    assert (shared[0]["next_t"].dropna() <= early.timestamp()).all()


@pytest.mark.parametrize("amounts", ["known", "none"])
@pytest.mark.django_db
def test_history_stats_from_the_purchase_window_equal_the_orders_grouped(amounts):
    """A refresh checks its history from the purchase window (one scan) rather than grouping the brand's orders
    again: the same figures at the window's cutoff and before it, on the shapes of real logs (several orders at
    the same instant, one-time buyers, no amounts, refunds and cancellations, orders after the cutoff)."""
    from decimal import Decimal

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.orders.models import OrderStatus
    from tests.factories import T0

    brand = BrandFactory()
    amount = Decimal("59.00") if amounts == "known" else Decimal("0")
    day = timedelta(days=1)
    people = CustomerFactory.create_batch(6, brand=brand)
    shapes = [
        [0, 0, 0],  # three orders at the same instant
        [5],  # one-time buyers
        [40],
        [3, 90, 200],
        [150, 151],
        [400],  # after the window's cutoff
    ]
    for person, days in zip(people, shapes, strict=True):
        for d in days:
            OrderFactory(brand=brand, customer=person, placed_at=T0 + d * day, total_amount=amount)
    OrderFactory(brand=brand, customer=people[1], placed_at=T0 + 20 * day, status=OrderStatus.REFUNDED)
    OrderFactory(brand=brand, customer=people[2], placed_at=T0 + 2 * day, status=OrderStatus.CANCELLED)
    late = T0 + 300 * day
    cutoffs = (late, T0 + 150 * day, T0 + 4 * day, T0, T0 - day)
    direct = [selectors.history_stats(brand=brand, cutoff=c) for c in cutoffs]
    with selectors.purchase_window(brand=brand, cutoff=late), CaptureQueriesContext(connection) as read:
        windowed = [selectors.history_stats(brand=brand, cutoff=c) for c in cutoffs]
    assert windowed == direct
    assert len(read) == len(cutoffs) and all("FROM _clv_purchases" in q["sql"] for q in read)
    assert direct[0] == {
        "purchases": 10,
        "buyers": 5,
        "repeat_purchases": 5,
        "repeat_buyers": 3,
        "history_days": 300.0,
        "amounts_known": amounts == "known",
    }
    assert direct[-1]["purchases"] == 0 and direct[-1]["buyers"] == 0


@pytest.mark.django_db
def test_one_customers_frame_in_one_statement_equals_the_frame_of_the_temporary_tables(
    demo_brand, monkeypatch
):
    """A customer's hazard factors read their covariates in one statement (common table expressions instead of
    temporary tables): the same row as the refresh's path gives them."""
    from apps.analytics import features

    statements = []  # what the temporary tables' path runs before its query (DDL, session settings)
    real_run = features._run

    def spy(cursor, sql, params=()):
        statements.append(sql)
        return real_run(cursor, sql, params)

    monkeypatch.setattr(features, "_run", spy)
    cutoff = selectors.cutoff_for(demo_brand, AS_OF)
    everyone = selectors.customer_frame(brand=demo_brand, cutoff=cutoff).set_index("customer_id")
    buyers = everyone.index.to_numpy()
    picked = [int(c) for c in buyers[:: max(1, len(buyers) // 40)]]
    assert len(picked) >= 30
    # some of them with an unknown age, their neighbours (in the two-customer frames) with a known one
    Customer.objects.filter(pk__in=picked[::3]).update(age_band="")
    Customer.objects.filter(pk__in=[c + 1 for c in picked[::3]]).update(age_band="45-54")
    everyone = selectors.customer_frame(brand=demo_brand, cutoff=cutoff).set_index("customer_id")
    for customer_id in picked:
        statements.clear()
        one = selectors.customer_frame(
            brand=demo_brand, cutoff=cutoff, customer_ids=(customer_id, customer_id)
        )
        assert statements == [] and len(one) == 1
        ranged = selectors.customer_frame(
            brand=demo_brand, cutoff=cutoff, customer_ids=(customer_id, customer_id + 1)
        )
        assert any(sql.lstrip().startswith("CREATE TEMP TABLE") for sql in statements)
        ranged = ranged[ranged["customer_id"] == customer_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(one, ranged, check_dtype=False)
        row = everyone.loc[customer_id]
        for column in (
            "log_orders",
            "log_last_gap_days",
            "log_streams_90d",
            "log_benefits_held",
            "elapsed_days",
            "age_unknown",
            "age_years",  # an unknown age is the same constant whoever else is in the frame
        ):
            assert one.loc[0, column] == pytest.approx(row[column])
    unknown = [c for c in picked if everyone.loc[c, "age_unknown"] == 1]
    assert unknown and len(unknown) < len(picked)  # both kinds were compared
    # a customer without a paid purchase up to the cutoff has no row
    assert selectors.customer_frame(brand=demo_brand, cutoff=cutoff, customer_ids=(0, 0)).empty


@pytest.mark.django_db(transaction=True)
def test_a_publish_refreshes_the_planner_statistics_of_the_tables_it_wrote(brand):
    """Pages join the published scores right after a refresh: with the statistics of an empty table the
    planner picks plans that took 9 s instead of 0.5 s at 1M customers."""
    from django.db import connection

    from apps.analytics.models import CustomerScore
    from apps.analytics.services import _statistics_refresh
    from tests.factories import ModelRunFactory

    run = ModelRunFactory(brand=brand, customers_scored=12_000)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO customers_customer (created_at, updated_at, external_id, display_name, phone, gender,
                   age_band, province, city, acquisition_channel, first_seen_at, marketing_consent,
                   automated_decisions_opt_out, preferred_touch_channel, brand_id)
               SELECT now(), now(), 'S' || g, '', '', 'unknown', '', '', '', 'live_stream', now(), false, false, '', %s
               FROM generate_series(1, 12000) g""",
            [brand.pk],
        )
        cursor.execute(
            """INSERT INTO analytics_customerscore (created_at, updated_at, stage, stage_rule, rhythm_days,
                   rfm_recency, rfm_frequency, rfm_monetary, rfm_segment, orders_count, last_purchase_at,
                   days_since_last_purchase, p_purchase_horizon, churn_probability, survival_curve, brand_id,
                   customer_id, run_id)
               SELECT now(), now(), 'growth', 'model', 30, 3, 3, 3, 'loyal', 2, now(), 10, 0.5, 0.5, '[]', %s, c.id, %s
               FROM customers_customer c WHERE c.brand_id = %s""",
            [brand.pk, run.pk, brand.pk],
        )
        table = CustomerScore._meta.db_table
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        before = cursor.fetchone()[0]
        _statistics_refresh(run)
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        after = cursor.fetchone()[0]
    assert before < 12_000 <= after


def test_outcomes_of_a_sample_are_the_sampled_customers_outcomes(demo_brand):
    """The holdout judges a sample of customers: their outcomes are read for them alone (the same hash of the
    id as customer_frame's sample), and are the same as in the outcomes of everyone."""
    start = selectors.cutoff_for(demo_brand, AS_OF - timedelta(days=120))
    end = start + timedelta(days=120)
    sample = {"sample_per_mille": 300, "seed": 7}
    customers = selectors.customer_frame(brand=demo_brand, cutoff=start, **sample)
    everyone = selectors.outcome_frame(brand=demo_brand, start=start, end=end, horizon_days=90)
    sampled = selectors.outcome_frame(brand=demo_brand, start=start, end=end, horizon_days=90, **sample)
    in_sample = everyone[everyone["customer_id"].isin(customers["customer_id"])]
    assert 0 < len(sampled) < len(everyone) and len(in_sample) > 20
    # everyone the sample keeps who bought before `start` is there; nobody outside the hash's sample is
    kept = sampled[sampled["customer_id"].isin(customers["customer_id"])]
    pd.testing.assert_frame_equal(
        kept.sort_values("customer_id").reset_index(drop=True),
        in_sample.sort_values("customer_id").reset_index(drop=True),
    )
    other = everyone[~everyone["customer_id"].isin(sampled["customer_id"])]
    assert not other["customer_id"].isin(customers["customer_id"]).any()
    # the judged frame is the same either way
    judged = selectors.with_outcomes(customers, sampled, follow_up_days=120.0)
    expected = selectors.with_outcomes(customers, everyone, follow_up_days=120.0)
    pd.testing.assert_frame_equal(judged, expected)
