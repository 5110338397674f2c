"""The erasure service beyond the customer row: the tombstone and its key, free text cleared or withheld, the
admin history, the audit trail's record of the erasure (admin, GraphQL, command), and the guard that every
text column of a customer's rows is known to be free text or not personal."""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from importlib import import_module
from io import StringIO

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.db.models import RestrictedError
from strawberry import relay

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record, snapshot
from apps.customers.models import Customer, ErasureTombstone
from apps.customers.selectors import ErasedIds, erasure_key, tombstone_digest
from apps.customers.services import FREE_TEXT, NOT_PERSONAL, customer_erase
from apps.loyalty.models import BenefitGrant
from apps.loyalty.services import benefit_grant
from tests.factories import BenefitFactory, BenefitGrantFactory, CustomerFactory
from tests.graphql.conftest import gql_token

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
PHONE = "13812345678"


@pytest.fixture
def person(brand):
    return CustomerFactory(brand=brand, external_id="ext-007", display_name="林小雅", phone=PHONE)


# --- the tombstone ----------------------------------------------------------------------------------------


def test_the_tombstone_is_the_keyed_hash_of_brand_and_old_id_and_the_key_is_not_stored(
    brand, person, settings
):
    settings.CLV_ERASURE_KEY = "a-long-random-erasure-key-for-tests"
    customer_erase(brand=brand, customer_id=person.pk, now=WHEN)
    tombstone = ErasureTombstone.objects.get(brand=brand)
    expected = hmac.new(
        b"a-long-random-erasure-key-for-tests", f"{brand.pk}\x1fext-007".encode(), hashlib.sha256
    )
    assert (tombstone.customer_id, tombstone.erased_at) == (person.pk, WHEN)
    assert tombstone.digest == expected.hexdigest()
    with connection.cursor() as cursor:  # neither the key nor the old id is anywhere in the table
        cursor.execute("SELECT row_to_json(t)::text FROM customers_erasuretombstone t")
        stored = cursor.fetchone()[0]
    assert "a-long-random-erasure-key" not in stored and "ext-007" not in stored


def test_without_a_configured_key_it_is_derived_from_secret_key(settings):
    settings.CLV_ERASURE_KEY = ""
    settings.SECRET_KEY = "one-secret-key-" * 4
    derived = erasure_key()
    assert derived == hmac.new(settings.SECRET_KEY.encode(), derived_label(), hashlib.sha256).digest()
    assert derived != settings.SECRET_KEY.encode()
    settings.SECRET_KEY = "another-secret-key-" * 4
    assert erasure_key() != derived
    settings.CLV_ERASURE_KEY = "configured"
    assert erasure_key() == b"configured"


def derived_label() -> bytes:
    from apps.customers import selectors

    return selectors._DERIVATION_LABEL


def test_the_same_id_in_another_brand_is_another_hash(brand, other_brand):
    assert tombstone_digest(brand.pk, "ext-007") != tombstone_digest(other_brand.pk, "ext-007")


def test_erased_ids_recognise_old_ids_and_tokens_in_one_query(
    brand, person, other_brand, django_assert_num_queries
):
    erased, _now = customer_erase(brand=brand, customer_id=person.pk)
    with django_assert_num_queries(1):
        found = ErasedIds(brand)
    assert found.target("ext-007") == erased.external_id
    assert found.target(erased.external_id) == erased.external_id
    assert found.target("ext-008") is None
    assert ErasedIds(other_brand).target("ext-007") is None  # tombstones are per brand


def test_an_erased_customer_cannot_be_deleted_while_its_tombstone_stands(brand, person):
    customer_erase(brand=brand, customer_id=person.pk)
    with pytest.raises(RestrictedError):
        Customer.objects.get(pk=person.pk).delete()


def test_an_id_erased_twice_keeps_its_first_tombstone(brand, person):
    first, _now = customer_erase(brand=brand, customer_id=person.pk)
    again = CustomerFactory(brand=brand, external_id="ext-007")  # typed in again by hand
    customer_erase(brand=brand, customer_id=again.pk)
    assert list(ErasureTombstone.objects.filter(brand=brand).values_list("customer_id", flat=True)) == [
        first.pk
    ]


# --- free text ---------------------------------------------------------------------------------------------


def test_grant_notes_are_never_in_the_audit_trail(brand, person, manager):
    coupon = BenefitFactory(brand=brand, code="c10")
    grant = benefit_grant(
        brand=brand, benefit=coupon, customer_ids=[person.pk], note=f"林小雅 {PHONE} wxid_lin", actor=manager
    ).grants[0]
    granted = AuditEvent.objects.get(action="granted")
    assert granted.changes["note"] == [None, "[withheld]"]
    before = snapshot(grant)
    grant.note = "called back"
    audit_record(actor=manager, action="updated", obj=grant, before=before, after=snapshot(grant))
    assert AuditEvent.objects.get(action="updated").changes == {"note": ["[withheld]", "[withheld]"]}
    assert PHONE not in json.dumps(list(AuditEvent.objects.values_list("changes", flat=True)))


def test_notes_recorded_before_are_withheld_by_the_migration(brand, person):
    grant = BenefitGrantFactory(brand=brand, customer=person, note=f"call {PHONE}")
    event = AuditEvent.objects.create(
        brand=brand,
        actor_kind="system",
        action="updated",
        object_type="benefit_grant",
        object_id=grant.pk,
        object_repr="x",
        changes={"note": [f"call {PHONE}", ""], "expires_at": ["2026-01-01", "2026-02-01"]},
    )
    kept = AuditEvent.objects.create(
        brand=brand,
        actor_kind="system",
        action="updated",
        object_type="tier",
        object_id=1,
        object_repr="x",
        changes={"note": ["not a grant", None]},
    )
    migration = import_module("apps.audit.migrations.0005_erasures")
    with connection.cursor() as cursor:
        cursor.execute(migration.WITHHOLD_NOTES)
    event.refresh_from_db()
    kept.refresh_from_db()
    assert event.changes == {"note": ["[withheld]", ""], "expires_at": ["2026-01-01", "2026-02-01"]}
    assert kept.changes == {"note": ["not a grant", None]}


def test_free_text_of_the_customers_rows_is_cleared_and_the_history_relabelled(brand, person, manager):
    coupon = BenefitFactory(brand=brand, code="c10", name="Ten off")
    mine = BenefitGrantFactory(brand=brand, customer=person, benefit=coupon, note=f"wxid_lin {PHONE}")
    other = BenefitGrantFactory(brand=brand, benefit=coupon, note="林小雅 referred me (ext-007)")
    LogEntry.objects.log_actions(
        user_id=manager.pk, queryset=[mine], action_flag=ADDITION, change_message="[]"
    )
    assert LogEntry.objects.get(object_id=str(mine.pk)).object_repr.endswith("ext-007")
    erased, _now = customer_erase(brand=brand, customer_id=person.pk)
    assert BenefitGrant.objects.get(pk=mine.pk).note == ""
    # another customer's note keeps everything but the mentions of the person
    assert BenefitGrant.objects.get(pk=other.pk).note == "[erased] referred me ([erased])"
    assert LogEntry.objects.get(object_id=str(mine.pk)).object_repr == f"Ten off → {erased.external_id}"


def test_every_text_column_of_a_customers_rows_is_known(db):
    """A new text column on a model that belongs to a customer must be declared free text (cleared on
    erasure) or not personal (codes the product writes): customers.services.FREE_TEXT / NOT_PERSONAL."""
    unknown = []
    for relation in Customer._meta.related_objects:
        model = relation.related_model
        label = model._meta.label_lower
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.CharField | models.TextField | models.JSONField) or field.choices:
                continue
            if field.name not in FREE_TEXT.get(label, ()) + NOT_PERSONAL.get(label, ()):
                unknown.append(f"{label}.{field.name}")
    assert unknown == []
    assert set(FREE_TEXT) <= {r.related_model._meta.label_lower for r in Customer._meta.related_objects}


# --- the record of the erasure -------------------------------------------------------------------------


def _erasure_event():
    event = AuditEvent.objects.get(action="erased")
    assert (
        "林小雅" not in str(event.changes)
        and PHONE not in str(event.changes)
        and "ext-007" not in str(event.changes)
    )
    return event


def test_the_graphql_mutation_records_the_token_that_erased(brand, person, client):
    from apps.api.services import api_token_create

    _row, token = api_token_create(brand=brand, role="manager", name="crm sync")
    mutation = "mutation($id: ID!) { eraseCustomer(id: $id) { erasedNow } }"
    body = gql_token(client, token, mutation, {"id": relay.to_base64("Customer", person.pk)}).json()
    assert body["data"]["eraseCustomer"]["erasedNow"] is True
    event = _erasure_event()
    assert (event.actor_kind, event.object_type, event.object_id, event.object_repr) == (
        "api_token",
        "customer",
        person.pk,
        f"#{person.pk}",
    )
    assert event.actor_label.startswith("crm sync")


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("erase_customer", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_the_command_erases_by_external_id_and_records_itself(brand, person):
    out = run("--brand", "acme", "--customer-id", " ext-007 ")
    erased = Customer.objects.get(pk=person.pk)
    assert out == (
        f"Erased the personal data of customer #{person.pk} of brand acme; its external id is now "
        f"{erased.external_id}. Recorded in the audit trail.\n"
    )
    assert (erased.display_name, erased.phone) == ("", "")
    event = _erasure_event()
    assert (event.actor_kind, event.actor_label, event.object_id) == (
        "system",
        "manage.py erase_customer",
        person.pk,
    )


def test_the_command_by_pk_and_again_by_the_old_id(brand, person):
    run("--brand", "acme", "--customer-pk", str(person.pk))
    erased = Customer.objects.get(pk=person.pk)
    local = erased.erased_at.astimezone(brand.tzinfo).isoformat()
    out = run("--brand", "acme", "--customer-id", "ext-007")
    assert out == f"Customer #{person.pk} of brand acme was already erased (at {local}); nothing changed.\n"
    assert AuditEvent.objects.filter(action="erased").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--brand", "nope", "--customer-id", "ext-007"], "Unknown brand: nope"),
        (["--brand", "acme"], "Give --customer-id (the external id) or --customer-pk."),
        (
            ["--brand", "acme", "--customer-id", "ext-999"],
            "--customer-id: brand acme has no customer with this external id; nothing was erased.",
        ),
        (
            ["--brand", "acme", "--customer-pk", "999999"],
            "--customer-pk: brand acme has no customer #999999.",
        ),
    ],
)
def test_the_command_refuses_what_it_cannot_find(brand, person, args, message):
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert str(caught.value) == message
    assert Customer.objects.get(pk=person.pk).phone == PHONE
    assert not AuditEvent.objects.filter(action="erased").exists()


def test_the_command_refuses_an_id_and_a_pk_of_different_customers(brand, person, other_brand):
    other = CustomerFactory(brand=brand, external_id="ext-008")
    rival = CustomerFactory(brand=other_brand, external_id="ext-007")
    with pytest.raises(CommandError, match=f"name different customers \\(#{person.pk} and #{other.pk}\\)"):
        run("--brand", "acme", "--customer-id", "ext-007", "--customer-pk", str(other.pk))
    with pytest.raises(CommandError, match="has no customer #"):  # another brand's customer is not found
        run("--brand", "acme", "--customer-pk", str(rival.pk))
    assert Customer.objects.filter(erased_at__isnull=False).count() == 0


def test_the_command_exits_non_zero_from_the_shell(brand, person):
    import subprocess
    import sys

    from django.conf import settings

    db = settings.DATABASES["default"]
    env = {
        **__import__("os").environ,
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "erase_customer", "--brand", "nope", "--customer-id", "x"],
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().endswith("CommandError: Unknown brand: nope")


def test_an_erasure_runs_the_same_queries_whatever_the_history(brand, person, manager):
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    coupon = BenefitFactory(brand=brand, code="c10")
    quiet = CustomerFactory(brand=brand, external_id="ext-quiet", phone="13800000002")
    BenefitGrantFactory(brand=brand, customer=quiet, benefit=coupon, note="one")
    for i in range(6):
        grant = BenefitGrantFactory(brand=brand, customer=person, benefit=coupon, note=f"note {i}")
        LogEntry.objects.log_actions(
            user_id=manager.pk, queryset=[grant], action_flag=ADDITION, change_message="[]"
        )
    counts = []
    for customer in (quiet, person):
        ContentType.objects.clear_cache()  # as in a fresh process
        with CaptureQueriesContext(conn) as queries:
            customer_erase(brand=brand, customer_id=customer.pk, actor=manager)
        counts.append(len(queries))
    assert counts == [counts[0], counts[0]]
    assert counts[0] == 18
