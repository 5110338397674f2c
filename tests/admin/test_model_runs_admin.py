"""Model runs in the admin: the list (status, as-of, horizon, estimator, holdout C-index), the detail page with
metrics per stage, data-sufficiency warnings and hazard ratios as tables, and the "Refresh now" button."""

import re
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from apps.analytics import admin_views
from apps.analytics.models import ModelRun
from tests.admin.conftest import staff
from tests.factories import CustomerFactory, OrderFactory, make_run

pytestmark = pytest.mark.django_db

LIST = reverse("admin:analytics_modelrun_changelist")
REFRESH = reverse("admin:analytics_modelrun_refresh")


def figures(c, auc, brier, customers=400, buyers=120):
    return {
        "customers": customers,
        "buyers_in_horizon": buyers,
        "harrell_c": c,
        "auc_horizon": auc,
        "brier_horizon": brier,
        "ece_horizon": 0.021,
        "top_decile_revenue_capture": 0.41,
        "revenue_actual": 12000.0,
        "revenue_forecast": 11040.0,
        "revenue_error": -0.08,
        "uno_c": c - 0.01,
        "td_auc": {"30": 0.79, "90": 0.77, "180": 0.74},
        "integrated_brier": 0.151,
    }


METRIC_KEYS = ("harrell_c", "auc_horizon", "brier_horizon", "ece_horizon", "uno_c")
METRICS = {
    "start": "2025-09-23T16:00:00+00:00",
    "end": "2026-03-31T16:00:00+00:00",
    "follow_up_days": 187.0,
    "horizon_days": 90,
    "fit": {"purchases": 5321, "sample_per_mille": 1000, "gap_rows": 5321},
    "overall": {
        "model": figures(0.7734, 0.781, 0.162),
        "kaplan_meier_by_stage": figures(0.701, 0.712, 0.181),
        "naive_rfm": figures(0.655, 0.668, 0.199),
    },
    "growth": {
        "model": figures(0.7421, 0.75, 0.17, customers=150, buyers=60),
        "kaplan_meier_by_stage": figures(0.69, 0.7, 0.19, customers=150, buyers=60),
        "naive_rfm": figures(0.64, 0.65, 0.2, customers=150, buyers=60),
    },
    "churned": {
        # as survival.evaluation stores a group it cannot judge: every metric absent with its reason
        "model": {
            "customers": 12,
            "buyers_in_horizon": 0,
            "reasons": dict.fromkeys(METRIC_KEYS, "too_few_customers"),
        },
        "kaplan_meier_by_stage": {
            "customers": 12,
            "buyers_in_horizon": 0,
            "reasons": {"auc_horizon": "too_few_customers"},
        },
        "naive_rfm": {
            "customers": 12,
            "buyers_in_horizon": 0,
            "reasons": {"auc_horizon": "too_few_customers"},
        },
    },
}
SUFFICIENCY = {
    "introduction": {"rows": 2100, "events": 900, "model": "coxph", "features_dropped": []},
    "growth": {"rows": 1500, "events": 700, "model": "coxph", "features_dropped": ["age_unknown"]},
    "churned": {"rows": 80, "events": 12, "model": "pooled", "features_dropped": []},
}
STAGE_MODELS = {
    "introduction": [
        {"feature": "log_orders", "coef": 0.2, "hazard_ratio": 1.22, "hazard_ratio_per_sd": 1.35, "sd": 0.5},
        {
            "feature": "community_member",
            "coef": 0.3,
            "hazard_ratio": 1.5,
            "hazard_ratio_per_sd": 1.1,
            "sd": 0.4,
        },
        {
            "feature": "log_last_gap_days",
            "coef": -0.4,
            "hazard_ratio": 0.67,
            "hazard_ratio_per_sd": 0.8,
            "sd": 1.0,
        },
    ],
    "growth": [
        {"feature": "log_orders", "coef": 0.1, "hazard_ratio": 1.1, "hazard_ratio_per_sd": 1.05, "sd": 0.5},
    ],
    "churned": [],
}


@pytest.fixture
def full_run(brand):
    return make_run(
        brand,
        customers_scored=4321,
        metrics=METRICS,
        data_sufficiency=SUFFICIENCY,
        stage_models=STAGE_MODELS,
        params={
            "hyperparameters": {"alpha": 0.1},
            "brand_rhythm_days": 41.5,
            "purchases": 6400,
            "gap_rows": 6400,
            "tiers": {"changes": 37, "grants_created": 20, "grants_revoked": 3},
        },
        timings={"fit": 3.21, "predict": 0.5},
        settings_snapshot={"horizon_days": "90", "min_stage_events": "50", "estimator": "coxph"},
        triggered_by="command",
    )


def cells(html: str, section_id: str) -> str:
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</table>", start)]


def test_list_shows_status_as_of_horizon_estimator_and_c_index(login, full_run, acme_viewer, other_brand):
    rival_run = make_run(other_brand, metrics={"overall": {"model": {"harrell_c": 0.6543}}})
    response = login(acme_viewer).get(LIST)
    html = response.content.decode()
    assert [r.pk for r in response.context["cl"].result_list] == [full_run.pk]
    assert "Published" in html and "Cox proportional hazards" in html and "0.773" in html
    assert "0.654" not in html and rival_run.pk not in [r.pk for r in response.context["cl"].result_list]
    assert "Refresh now" not in html  # a viewer gets no button


def test_detail_shows_metrics_per_stage_as_tables(login, full_run, acme_viewer):
    response = login(acme_viewer).get(reverse("admin:analytics_modelrun_change", args=[full_run.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    metrics = cells(html, "run-metrics")
    assert "<pre>" not in html and '"harrell_c"' not in html  # no raw JSON
    assert "Harrell&#x27;s C" in metrics and "Overall" in metrics and "Growth" in metrics
    assert "0.773" in metrics and "0.701" in metrics and "0.655" in metrics  # model and both baselines
    assert "0.742" in metrics  # growth's model
    assert "41%" in metrics and "-8.0%" in metrics
    assert "11,040.00" in metrics and "12,000.00" in metrics
    assert "400 customers, 120 bought within the horizon" in metrics
    groups = [g["key"] for g in response.context["metric_groups"]]
    assert groups == ["overall", "growth", "churned"]
    assert "No metrics: fewer than 20 customers to judge." in metrics
    assert "0.790" in cells(html, "run-td-auc")
    # the holdout window in the brand's days, and what was fitted
    window = cells(html, "run-holdout")
    assert "2025-09-24" in window and "2026-04-01" in window and "5,321" in window
    fit = cells(html, "run-fit")
    assert "alpha = 0.1" in fit and "37" in fit and "41.5" in fit


def test_detail_shows_data_sufficiency_and_warnings(login, full_run, acme_viewer):
    html = (
        login(acme_viewer)
        .get(reverse("admin:analytics_modelrun_change", args=[full_run.pk]))
        .content.decode()
    )
    warnings = html[html.index('id="run-warnings"') : html.index("</ul>", html.index('id="run-warnings"'))]
    assert "Churned: only 12 repeat purchases (at least 50 needed for its own model)" in warnings
    assert "pooled model of all stages" in warnings
    assert "Growth: features left out (too little variation): age unknown." in warnings
    assert "Holdout, Churned: no metrics (fewer than 20 customers to judge)." in warnings
    table = cells(html, "run-sufficiency")
    assert re.search(r"Introduction</td><td class=\"num\">2100</td><td class=\"num\">900</td>", table)
    assert "fallback" in table


def test_detail_shows_hazard_ratios_with_labels(login, full_run, acme_viewer):
    response = login(acme_viewer).get(reverse("admin:analytics_modelrun_change", args=[full_run.pk]))
    html = response.content.decode()
    hazards = html[html.index('id="run-hazards"') :]
    intro = response.context["hazard_tables"][0]
    assert intro["stage"] == "Introduction"
    # strongest first: member of a community (×1.50 per unit), then the last gap (×0.80 per SD), then orders
    assert [r["label"] for r in intro["rows"]] == [
        "member of a community",
        "paid purchases so far (log)",
        "days between the last two purchases (log)",
    ]
    assert [r["hazard_ratio"] for r in intro["rows"]] == ["1.50", "1.35", "0.80"]
    assert "+50%" in hazards and "-20%" in hazards
    assert "per standard deviation" in hazards and "per unit" in hazards
    assert "No hazard ratios" in hazards  # churned: pooled model with no rows of its own


def test_detail_of_a_skipped_run_explains_why(login, brand, acme_viewer):
    run = make_run(
        brand,
        status="skipped",
        message="Too little data: 12 paid purchases up to the as-of date, 200 needed.",
        data_sufficiency={"purchases": 12, "minimum": 200},
    )
    html = login(acme_viewer).get(reverse("admin:analytics_modelrun_change", args=[run.pk])).content.decode()
    assert "Too little data: 12 paid purchases" in html
    assert "This run has no metrics." in html


def test_detail_of_another_brands_run_is_a_404(login, full_run, rival_manager):
    assert (
        login(rival_manager).get(reverse("admin:analytics_modelrun_change", args=[full_run.pk])).status_code
        == 404
    )


# --- Refresh now --------------------------------------------------------------------------------------------


def test_analyst_sees_the_refresh_button_with_csrf(login, full_run, acme_analyst, brand):
    for url in (LIST, reverse("admin:analytics_modelrun_change", args=[full_run.pk])):
        html = login(acme_analyst).get(url).content.decode()
        form = html[
            html.index('id="refresh-now-form"') : html.index("</form>", html.index('id="refresh-now-form"'))
        ]
        assert "Refresh now" in form and "csrfmiddlewaretoken" in form
        assert f'name="brand" value="{brand.pk}"' in form


def test_viewer_cannot_refresh(login, brand, acme_viewer):
    before = ModelRun.objects.count()
    response = login(acme_viewer).post(REFRESH, {"brand": brand.pk})
    assert response.status_code == 403
    assert ModelRun.objects.count() == before


def test_refresh_of_another_brand_is_a_404(login, brand, other_brand, acme_analyst):
    assert login(acme_analyst).post(REFRESH, {"brand": other_brand.pk}).status_code == 404
    assert not ModelRun.objects.filter(brand=other_brand).exists()


def test_refresh_needs_post(login, acme_analyst):
    assert login(acme_analyst).get(REFRESH).status_code == 405


def test_refresh_needs_the_csrf_token(brand, acme_analyst):
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme_analyst)
    assert client.post(REFRESH, {"brand": brand.pk}).status_code == 403
    assert not ModelRun.objects.filter(brand=brand).exists()


def test_analyst_refresh_runs_the_service_and_reports_a_skip(login, brand, acme_analyst, settings):
    """With no broker the refresh runs in the request; too few purchases: the run is skipped and says why."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    customer = CustomerFactory(brand=brand)
    OrderFactory.create_batch(3, brand=brand, customer=customer)
    client = login(acme_analyst)
    response = client.post(REFRESH, {"brand": brand.pk, "next": LIST + "?status__exact=skipped"})
    assert response.status_code == 302 and response["Location"] == LIST + "?status__exact=skipped"
    run = ModelRun.objects.get(brand=brand)
    assert (run.status, run.triggered_by) == ("skipped", "admin:acme-analyst")
    page = client.get(response["Location"]).content.decode()
    assert f"Run #{run.pk} Skipped: Only 1 buyer up to " in page


def test_manager_refresh_reports_the_published_run(login, brand, acme_manager, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    calls = []

    def fake_refresh(*, brand, triggered_by, **kwargs):
        calls.append((brand.pk, triggered_by))
        return make_run(brand, customers_scored=1500, metrics={"overall": {"model": {"harrell_c": 0.8123}}})

    monkeypatch.setattr("apps.analytics.tasks.scores_refresh", fake_refresh)
    client = login(acme_manager)
    response = client.post(REFRESH, {"brand": brand.pk, "next": "https://evil.example/"})
    assert response["Location"] == LIST  # an outside `next` is ignored
    assert calls == [(brand.pk, "admin:acme-manager")]
    page = client.get(LIST).content.decode()
    assert "published: 1,500 customers scored as of 2026-03-31 (holdout C-index 0.812)" in page


def test_refresh_with_a_broker_queues_the_task(
    login, brand, acme_analyst, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = []
    monkeypatch.setattr("apps.analytics.tasks.broker_check", lambda: None)
    monkeypatch.setattr(
        "apps.analytics.tasks.refresh_scores_task.delay", lambda *args, **kw: queued.append((args, kw))
    )
    client = login(acme_analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(REFRESH, {"brand": brand.pk})
    # a pending run is created at once and the task fills it; staff are taken to its page
    run = ModelRun.objects.get(brand=brand)
    assert (run.status, run.phase, run.triggered_by) == ("pending", "queued", "admin:acme-analyst")
    assert response.status_code == 302 and response["Location"] == f"{LIST}{run.pk}/change/"
    # today, the brand's horizon; the run will say who asked
    assert queued == [((brand.pk, None, None), {"triggered_by": "admin:acme-analyst", "run_id": run.pk})]
    page = client.get(response["Location"]).content.decode()
    assert f"is under way as run #{run.pk}" in page
    assert "Step 1 of 8: waiting for a worker" in page and '<meta http-equiv="refresh"' in page
    # asking again while it waits queues nothing more and leads to the same run
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(REFRESH, {"brand": brand.pk})
    assert again["Location"] == response["Location"] and len(queued) == 1
    assert ModelRun.objects.filter(brand=brand).count() == 1
    # once the worker is at a step, the page says which
    ModelRun.objects.filter(pk=run.pk).update(status="running", phase="predict")
    page = client.get(response["Location"]).content.decode()
    assert "Step 5 of 8: scoring every customer" in page
    # a finished run's page no longer reloads
    ModelRun.objects.filter(pk=run.pk).update(status="failed", phase="")
    page = client.get(response["Location"]).content.decode()
    assert 'id="run-progress"' not in page and 'http-equiv="refresh"' not in page


def test_a_request_waiting_too_long_is_closed_and_a_new_one_queued(
    login, brand, acme_analyst, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = []
    monkeypatch.setattr("apps.analytics.tasks.broker_check", lambda: None)
    monkeypatch.setattr(
        "apps.analytics.tasks.refresh_scores_task.delay", lambda *args, **kw: queued.append((args, kw))
    )
    stale = make_run(brand, status="pending")
    ModelRun.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        login(acme_analyst).post(REFRESH, {"brand": brand.pk})
    stale.refresh_from_db()
    assert stale.status == "failed" and "is a worker running" in stale.message
    fresh = ModelRun.objects.filter(brand=brand).exclude(pk=stale.pk).get()
    assert fresh.status == "pending" and queued[0][1]["run_id"] == fresh.pk


def test_a_skipped_lock_is_reported(login, brand, acme_analyst, settings, monkeypatch):
    from apps.analytics.services import RefreshSkipped

    settings.CELERY_TASK_ALWAYS_EAGER = True

    def locked(**kwargs):
        raise RefreshSkipped("Another refresh of this brand is running; this one was skipped.")

    monkeypatch.setattr("apps.analytics.tasks.scores_refresh", locked)
    client = login(acme_analyst)
    client.post(REFRESH, {"brand": brand.pk})
    assert "Another refresh of this brand is running" in client.get(LIST).content.decode()


def test_staff_of_two_brands_choose_the_brand(login, brand, other_brand):
    user = staff("two", (brand, "analyst"), (other_brand, "viewer"))
    html = login(user).get(LIST).content.decode()
    # only the brand where they are an analyst is offered
    assert f'name="brand" value="{brand.pk}"' in html
    assert f'value="{other_brand.pk}"' not in html.split('id="refresh-now-form"')[1].split("</form>")[0]
    assert login(user).post(REFRESH, {"brand": other_brand.pk}).status_code == 403
    # superusers pick among every brand
    root = staff("root2")
    root.is_superuser = True
    root.save()
    form = login(root).get(LIST).content.decode().split('id="refresh-now-form"')[1].split("</form>")[0]
    assert f'<option value="{brand.pk}">' in form and f'<option value="{other_brand.pk}">' in form


def test_refresh_without_a_brand_for_a_superuser_asks_for_one(login, superuser):
    client = login(superuser)
    response = client.post(REFRESH, {})
    assert response.status_code == 302
    assert "Choose the brand to refresh." in client.get(LIST).content.decode()


def test_run_report_of_an_empty_run(brand):
    run = make_run(brand, status="pending", as_of=date(2026, 4, 1))
    report = admin_views.run_report(run)
    assert report["metric_groups"] == [] and report["hazard_tables"] == [] and report["warnings"] == []


def test_run_report_shows_timings_in_the_pipelines_order(brand):
    """run.timings is JSON, whose keys PostgreSQL keeps in its own order (shortest first): the page shows them
    as the refresh ran, each window's phases and the publish's steps right after their window."""
    from django.utils import translation

    from apps.analytics.models import ModelRun

    phases = [
        "purchase window",
        "holdout: fit",
        "holdout: predict",
        "holdout: metrics",
        "fit",
        "rfm",
        "score chunks (after the holdout)",
        "tiers and percentiles, scores written",
        "prospects (beside the scoring)",
        "publish",
        "publish: stage changes",
        "publish: tiers",
        "publish: next actions and win-back",
        "planner statistics",
        "dashboard snapshot",
        "something new",
    ]
    run = make_run(brand, status="published", as_of=date(2026, 4, 1))
    run.timings = {phase: float(i) for i, phase in enumerate(phases)}
    run.save(update_fields=["timings"])
    stored = list(ModelRun.objects.get(pk=run.pk).timings)
    assert stored != phases  # PostgreSQL's order, not the run's
    with translation.override("en"):
        shown = admin_views.run_report(ModelRun.objects.get(pk=run.pk))["timings"]
    assert [seconds for _label, seconds in shown] == [f"{i:.2f}" for i in range(len(phases))]
    assert shown[10] == ("publish: stage changes", "10.00")


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_demo_refreshes_in_a_thread_and_the_page_follows_it(settings):
    """The demo's web server (SCORES_REFRESH_IN_THREAD, no broker): "Refresh now" answers at once with the
    pending run's page; the refresh goes on in a thread with its own connection and finishes the run."""
    import threading

    from apps.brands.models import Brand

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.SCORES_REFRESH_IN_THREAD = True
    brand = Brand.objects.create(name="Threaded", slug="threaded")
    customer = CustomerFactory(brand=brand)
    OrderFactory.create_batch(3, brand=brand, customer=customer)
    user = staff("thread-analyst", (brand, "analyst"))
    client = Client()
    client.force_login(user)
    response = client.post(REFRESH, {"brand": brand.pk})
    run = ModelRun.objects.get(brand=brand)
    assert response["Location"] == f"{LIST}{run.pk}/change/"
    worker = next(t for t in threading.enumerate() if t.name == f"refresh-{run.pk}")
    worker.join(timeout=60)
    assert not worker.is_alive()
    run.refresh_from_db()
    assert (run.status, run.phase, run.triggered_by) == ("skipped", "", "admin:thread-analyst")
    page = client.get(response["Location"]).content.decode()
    assert "Only 1 buyer up to" in page and 'id="run-progress"' not in page


def test_a_broker_that_is_down_is_reported_within_two_seconds_and_nothing_is_queued(
    login, brand, acme_analyst, settings
):
    import time

    from celery import current_app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    before = current_app.conf.broker_url
    current_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        client = login(acme_analyst)
        start = time.monotonic()
        response = client.post(REFRESH, {"brand": brand.pk})
        elapsed = time.monotonic() - start
    finally:
        current_app.conf.broker_url = before
    assert response.status_code == 302 and elapsed < 2.5, elapsed
    page = client.get(LIST).content.decode()
    assert "The task queue (Celery broker) cannot be reached, so nothing was queued" in page
    assert not ModelRun.objects.filter(brand=brand).exists()
