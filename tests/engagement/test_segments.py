"""Saved segments: the customer list's filters saved by name. Each filter selects the same customers as the
customer list does; a segment is made from the list and shows its live count and the list it stands for;
follow-up rules and experiments that target one take only its customers (on top of their own conditions),
and a segment in use cannot be deleted."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import RestrictedError
from django.urls import reverse

from apps.customers.models import Customer
from apps.engagement import segments
from apps.engagement.experiments import experiment_create, experiment_start
from apps.engagement.models import ExperimentAssignment, SavedSegment, Touch
from apps.engagement.planning import followups_plan, followups_preview, rule_uses_scores
from tests.admin.conftest import add_url, change_url, changelist_url, staff
from tests.admin.test_customer_list import scored  # noqa: F401 - the customer list's fixture
from tests.factories import CustomerScoreFactory, ModelRunFactory, TierFactory
from tests.scenarios import FOLLOWUP_PLANNED_AT as NOON_AFTER
from tests.scenarios import make_followup_shop

pytestmark = pytest.mark.django_db


def segment(brand, filters, name="segment"):
    return SavedSegment.objects.create(
        brand=brand, name=name, filters=segments.segment_filters_clean(filters, brand_id=brand.pk)
    )


# --- the same customers as the customer list ---------------------------------------------------------------


def parity_cases(rows):
    gold, fans = rows["gold"], rows["fans"]
    return [
        "stage=growth",
        "stage=none",
        f"tier={gold.pk}",
        "tier=none",
        "rfm=loyal",
        "rfm=none",
        "churn_risk=high",
        "churn_risk=medium",
        "churn_risk=low",
        "churn_risk=none",
        "at_risk=yes",
        "clv_band=top20",
        "clv_band=middle",
        "clv_band=bottom40",
        f"community={fans.pk}",
        "acquisition_platform=douyin",
        "acquisition_platform=none",
        "gender__exact=female",
        "age_band__exact=25-34",
        "acquisition_channel__exact=ads",
        "marketing_consent__exact=1",
        "marketing_consent__exact=0",
        "automated_decisions_opt_out__exact=1",
        "first_seen_at__gte=2026-02-01+00%3A00%3A00%2B08%3A00&first_seen_at__lt=2026-03-01+00%3A00%3A00%2B08%3A00",
        "first_seen_at__isnull=True",
        f"stage=decline&tier={gold.pk}&churn_risk=high",
    ]


def test_every_filter_selects_the_customers_the_customer_list_shows(client, brand, scored):  # noqa: F811
    people = scored["customers"]
    Customer.objects.filter(pk=people["A1"].pk).update(
        gender="female", age_band="25-34", marketing_consent=True
    )
    Customer.objects.filter(pk=people["A3"].pk).update(
        acquisition_channel="ads",
        automated_decisions_opt_out=True,
        first_seen_at=datetime(2026, 2, 10, tzinfo=UTC),
    )
    Customer.objects.filter(pk=people["A6"].pk).update(first_seen_at=None)
    client.force_login(staff("lin", (brand, "manager")))
    checked = 0
    for query in parity_cases(scored):
        response = client.get(changelist_url(Customer) + "?" + query)
        assert response.status_code == 200, query
        listed = sorted(c.external_id for c in response.context["cl"].result_list)
        saved = segments.segment_filters_clean(query, brand_id=brand.pk)
        taken = segments.segment_filter(Customer.objects.filter(brand=brand), saved, brand_id=brand.pk)
        assert sorted(taken.values_list("external_id", flat=True)) == listed, query
        checked += bool(listed)
    assert checked >= 20  # the cases select someone: a filter matching nobody both ways proves little


@pytest.mark.parametrize(
    "filters, message",
    [
        ("q=13800001111", "A search cannot be saved"),
        ("stage=decline&cohort=s:1", "These filters cannot be saved in a segment: cohort"),
        ("stage=teenager", "teenager is not a value of the filter stage"),
        ("stage=decline&stage=growth", "The filter stage is given more than once"),
        ("o=2&p=3", "Choose at least one filter"),
        ("stage=decline&brand__id__exact=999999", "another brand"),
    ],
)
def test_filters_that_are_not_a_segment_are_refused_naming_why(brand, filters, message):
    with pytest.raises(ValidationError) as caught:
        segments.segment_filters_clean(filters, brand_id=brand.pk)
    assert message in caught.value.message_dict["filters"][0]


def test_a_segment_keeps_its_filters_sorted_without_ordering_paging_or_its_own_brand(brand, other_brand):
    tier = TierFactory(brand=brand, code="vip", rank=1)
    query = f"tier={tier.pk}&o=3&p=2&stage=decline&brand__id__exact={brand.pk}"
    assert segments.segment_filters_clean(query, brand_id=brand.pk) == f"stage=decline&tier={tier.pk}"
    rival_tier = TierFactory(brand=other_brand, code="rival-vip", rank=1)
    with pytest.raises(ValidationError, match=f"{rival_tier.pk} is not a value of the filter tier"):
        segments.segment_filters_clean(f"tier={rival_tier.pk}", brand_id=brand.pk)


# --- made from the customer list, shown with its live count ---------------------------------------------------


def test_a_manager_saves_the_list_filters_as_a_segment_and_its_page_counts_and_opens_them(
    client,
    brand,
    scored,  # noqa: F811
):
    client.force_login(staff("lin", (brand, "manager")))
    page = client.get(changelist_url(Customer), {"churn_risk": "high", "o": "2"}).content.decode()
    link = reverse("admin:engagement_savedsegment_add") + "?filters="
    assert link in page
    # the link carries the list's filters to the add form
    start = page.index(link) + len(link)
    carried = page[start : page.index('"', start)]
    form = client.get(link + carried)
    initial = form.context["adminform"].form.initial
    assert "churn_risk=high" in initial["filters"] and initial["brand"] == brand.pk
    response = client.post(
        add_url(SavedSegment),
        {"brand": brand.pk, "name": "At risk", "description": "", "filters": initial["filters"]},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = SavedSegment.objects.get(brand=brand, name="At risk")
    assert saved.filters == "churn_risk=high"
    # its page counts the customers now and opens the list filtered by it
    shown = client.get(change_url(saved))
    assert "2 customers: open the list" in shown.content.decode()  # A4 (0.60) and A5 (0.95)
    target = f"{changelist_url(Customer)}?churn_risk=high&amp;brand__id__exact={brand.pk}"
    assert target in shown.content.decode()
    listed = client.get(target.replace("&amp;", "&"))
    assert sorted(c.external_id for c in listed.context["cl"].result_list) == ["A4", "A5"]
    # the count is live: a customer who leaves the band leaves the segment
    from apps.analytics.models import CustomerScore

    CustomerScore.objects.filter(customer=scored["customers"]["A4"], run__status="published").update(
        churn_probability=0.1
    )
    assert "1 customer: open the list" in client.get(change_url(saved)).content.decode()


def test_a_bad_filter_is_shown_on_the_form_and_viewers_may_look_but_not_save(client, brand):
    manager = staff("lin", (brand, "manager"))
    client.force_login(manager)
    response = client.post(
        add_url(SavedSegment), {"brand": brand.pk, "name": "Phone", "filters": "q=13800001111"}
    )
    assert response.status_code == 200
    assert "A search cannot be saved" in str(response.context["adminform"].form.errors["filters"])
    assert not SavedSegment.objects.exists()
    saved = segment(brand, "stage=decline")
    client.force_login(staff("mei", (brand, "viewer")))
    assert (
        reverse("admin:engagement_savedsegment_add")
        not in client.get(changelist_url(Customer)).content.decode()
    )
    assert client.get(change_url(saved)).status_code == 200
    assert (
        client.post(
            add_url(SavedSegment), {"brand": brand.pk, "name": "x", "filters": "stage=decline"}
        ).status_code
        == 403
    )


def test_another_brands_segment_is_not_found_nor_offered_to_a_rule(client, brand, other_brand):
    shop = make_followup_shop(brand)
    rival = segment(other_brand, "stage=decline", name="rival")
    own = segment(brand, "stage=decline", name="own")
    client.force_login(staff("lin", (brand, "manager")))
    assert client.get(change_url(rival)).status_code == 404
    choices = client.get(change_url(shop.rule)).context["adminform"].form.fields["segment"].queryset
    assert list(choices) == [own]


# --- rules and experiments that target a segment ------------------------------------------------------------


def test_a_rule_targeting_a_segment_touches_only_its_customers_and_the_preview_says_why(client, brand):
    shop = make_followup_shop(brand)
    women = [shop.viewer(gender="female") for _ in range(3)]
    men = [shop.viewer(gender="male") for _ in range(2)]
    shop.rule.segment = segment(brand, "gender__exact=female", name="women")
    shop.rule.save()
    preview = followups_preview(brand=brand, rule=shop.rule, stream=shop.stream).frame
    assert sorted(preview.loc[preview["excluded"] == "segment", "customer_id"]) == sorted(c.pk for c in men)
    # the admin's preview names the reason
    client.force_login(staff("lin", (brand, "manager")))
    page = client.get(reverse("admin:engagement_followuprule_preview", args=[shop.rule.pk]))
    assert dict(page.context["summary"]) == {"Would be touched": 3, "Not in the rule's saved segment": 2}
    assert "3 of 5 would be touched." in page.content.decode()
    # planning writes touches for the segment's customers only
    followups_plan(brand=brand, stream=shop.stream, now=NOON_AFTER)
    assert sorted(Touch.objects.filter(brand=brand).values_list("customer_id", flat=True)) == sorted(
        c.pk for c in women
    )


def test_a_segment_on_scores_makes_the_rule_an_automated_decision(brand):
    shop = make_followup_shop(brand)
    run = ModelRunFactory(brand=brand)
    decline = [shop.viewer() for _ in range(2)]
    refuses = shop.viewer(automated_decisions_opt_out=True)
    for customer in [*decline, refuses]:
        CustomerScoreFactory(brand=brand, run=run, customer=customer, stage="decline")
    shop.viewer()  # no score: not in the segment
    assert not rule_uses_scores(shop.rule, [])
    shop.rule.segment = segment(brand, "stage=decline", name="decline")
    shop.rule.save()
    assert rule_uses_scores(shop.rule, [])
    followups_plan(brand=brand, stream=shop.stream, now=NOON_AFTER)
    outcomes = dict(Touch.objects.filter(brand=brand).values_list("customer_id", "reason"))
    assert outcomes == {decline[0].pk: "", decline[1].pk: "", refuses.pk: "profiling_opt_out"}


def test_an_experiment_targeting_a_segment_assigns_only_its_customers(brand):
    from tests.engagement.test_experiments import START

    policy = make_followup_shop(brand).policy
    policy.holdout_percent = Decimal("0")
    policy.save()
    run = ModelRunFactory(brand=brand)
    customers = [Customer.objects.create(brand=brand, external_id=f"E{i}") for i in range(40)]
    for i, customer in enumerate(customers):
        CustomerScoreFactory(
            brand=brand,
            run=run,
            customer=customer,
            stage="growth" if i % 2 else "decline",
            churn_probability=0.3,
        )
    experiment = experiment_create(
        brand=brand,
        code="seg",
        name="seg",
        starts_at=START,
        ends_at=START + timedelta(days=30),
        segment=segment(brand, "stage=decline", name="decline"),
        max_churn_probability=Decimal("0.5"),
        arms=[{"code": "control", "is_control": True, "share": 50}, {"code": "b", "share": 50}],
    )
    experiment_start(experiment=experiment, at=START)
    assigned = set(
        ExperimentAssignment.objects.filter(experiment=experiment).values_list("customer_id", flat=True)
    )
    assert assigned == {c.pk for i, c in enumerate(customers) if i % 2 == 0}


def test_a_segment_in_use_cannot_be_deleted(brand):
    shop = make_followup_shop(brand)
    shop.rule.segment = used = segment(brand, "stage=decline")
    shop.rule.save()
    with pytest.raises(RestrictedError):
        used.delete()
    assert SavedSegment.objects.filter(pk=used.pk).exists()
