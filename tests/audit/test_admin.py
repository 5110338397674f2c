"""The audit trail in the admin: listed per brand, filtered and searched, and read-only for everyone."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.admin.conftest import staff

pytestmark = pytest.mark.django_db

LIST = reverse("admin:audit_auditevent_changelist")


def event_url(event, view="change"):
    return reverse(f"admin:audit_auditevent_{view}", args=[event.pk])


def make_event(
    brand, *, action="updated", object_type="tier", repr_="Gold [gold]", actor="acme-manager", **fields
):
    return AuditEvent.objects.create(
        brand=brand,
        occurred_at=fields.pop("occurred_at", datetime(2026, 3, 1, 8, 0, tzinfo=UTC)),
        actor_kind=fields.pop("actor_kind", "user"),
        actor_label=actor,
        action=action,
        object_type=object_type,
        object_id=fields.pop("object_id", 1),
        object_repr=repr_,
        changes=fields.pop("changes", {"name": ["Gold", "Gold club"]}),
        **fields,
    )


@pytest.fixture
def trail(brand, other_brand):
    return {
        "renamed": make_event(brand),
        "granted": make_event(
            brand,
            action="granted",
            object_type="benefit_grant",
            repr_="c10 → #7",
            actor="shop app (ab12cd34…)",
            actor_kind="api_token",
            occurred_at=datetime(2025, 12, 24, 8, 0, tzinfo=UTC),
        ),
        "rival": make_event(other_brand, repr_="Rival Gold [gold]", actor="rival-manager"),
    }


def listed(response):
    assert response.status_code == 200
    return {e.pk for e in response.context["cl"].result_list}


def test_staff_see_their_brands_events_only_and_another_brands_event_is_a_404(
    login, trail, acme_manager, acme_viewer, rival_manager, superuser
):
    ours = {trail["renamed"].pk, trail["granted"].pk}
    assert listed(login(acme_manager).get(LIST)) == ours
    assert listed(login(acme_viewer).get(LIST)) == ours
    assert listed(login(rival_manager).get(LIST)) == {trail["rival"].pk}
    assert listed(login(superuser).get(LIST)) == ours | {trail["rival"].pk}
    client = login(acme_manager)
    assert client.get(event_url(trail["rival"])).status_code == 404
    page = client.get(event_url(trail["renamed"]))
    assert page.status_code == 200
    assert "Rival Gold" not in client.get(LIST).content.decode()


def test_the_event_page_shows_who_what_and_the_changes_old_to_new(login, trail, acme_manager):
    page = login(acme_manager).get(event_url(trail["renamed"]))
    html = page.content.decode()
    assert not page.context["adminform"].form.fields  # every field read-only
    assert '<table class="audit-changes">' in html
    assert "<tr><th>name</th><td>Gold</td><td>Gold club</td></tr>" in html
    assert "acme-manager" in html and "Gold [gold]" in html


def test_nobody_adds_changes_or_deletes_an_event(login, trail, acme_manager, superuser):
    event = trail["renamed"]
    for user in (acme_manager, superuser):
        client = login(user)
        assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
        assert client.post(event_url(event), {"object_repr": "forged"}).status_code == 403
        assert client.post(event_url(event, "delete"), {"post": "yes"}).status_code == 403
        response = client.get(LIST)
        assert response.context["cl"].model_admin.get_actions(response.wsgi_request) == {}
    event.refresh_from_db()
    assert event.object_repr == "Gold [gold]"
    assert AuditEvent.objects.count() == 3


def test_filters_search_and_date_hierarchy(login, trail, acme_manager):
    client = login(acme_manager)
    assert listed(client.get(LIST, {"action": "granted"})) == {trail["granted"].pk}
    assert listed(client.get(LIST, {"object_type": "tier"})) == {trail["renamed"].pk}
    assert listed(client.get(LIST, {"actor_kind": "api_token"})) == {trail["granted"].pk}
    assert listed(client.get(LIST, {"actor_label": "acme-manager"})) == {trail["renamed"].pk}
    assert listed(client.get(LIST, {"q": "c10"})) == {trail["granted"].pk}
    assert listed(client.get(LIST, {"occurred_at__year": "2025"})) == {trail["granted"].pk}
    # the actor filter offers the brand's own actors only
    response = client.get(LIST)
    spec = next(
        f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "actor_label"
    )
    assert set(spec.lookup_choices) == {"acme-manager", "shop app (ab12cd34…)"}


def test_staff_without_a_brand_see_no_audit_trail(login, trail):
    loner = staff("loner")
    client = login(loner)
    assert client.get(LIST).status_code == 403
    assert client.get(event_url(trail["renamed"])).status_code == 404
    index = client.get(reverse("admin:index"))
    assert "audit" not in {app["app_label"] for app in index.context["app_list"]}


def test_the_audit_trail_is_on_the_admin_index_for_brand_staff(login, trail, acme_viewer):
    index = login(acme_viewer).get(reverse("admin:index"))
    apps = {app["app_label"]: app for app in index.context["app_list"]}
    assert [m["object_name"] for m in apps["audit"]["models"]] == ["AuditEvent"]
    assert apps["audit"]["models"][0]["perms"] == {
        "add": False,
        "change": False,
        "delete": False,
        "view": True,
    }


def test_a_superuser_deleting_a_brand_takes_its_audit_trail_along(login, trail, superuser, other_brand):
    from apps.brands.models import Brand

    response = login(superuser).post(
        reverse("admin:brands_brand_delete", args=[other_brand.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Brand.objects.filter(pk=other_brand.pk).exists()
    assert set(AuditEvent.objects.values_list("pk", flat=True)) == {trail["renamed"].pk, trail["granted"].pk}


def test_changes_read_in_words_labels_names_and_choices_not_field_names_and_ids(login, brand, acme_manager):
    from tests.factories import BenefitFactory

    coupon = BenefitFactory(brand=brand, code="coupon-50", name="Exclusive coupon ¥50")
    event = make_event(
        brand,
        action="granted",
        object_type="benefit_grant",
        repr_="c10 → coupon",
        changes={"benefit": [None, coupon.pk], "source": ["", "campaign"]},
    )
    client = login(acme_manager)
    html = client.get(event_url(event), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "¥50 专属优惠券" in html  # the benefit's name (a seeded msgid, in the staff language), not its id
    assert "权益" in html and "活动" in html  # the field's label and the choice's label
    listing = client.get(LIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "source: - → Campaign" in listing
