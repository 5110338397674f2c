"""Writes for customers that the admin, commands and GraphQL share."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from django.db import connection, transaction
from django.http import QueryDict
from django.utils import timezone

from apps.audit.services import AUDITED, audit_erasure, audit_withhold
from apps.customers.models import Customer, ErasureTombstone, ExportJob, Gender
from apps.customers.selectors import ERASED_ID_PREFIX, tombstone_digest
from apps.customers.signals import customer_erased

logger = logging.getLogger(__name__)

__all__ = ["ERASED_ID_PREFIX", "ERASED_VALUES", "customer_erase", "erased_external_id"]

# Personal data and what it becomes. Kept: acquisition channel and stream and first_seen_at (cohorts and
# stream figures), orders, stream views, community spells, scores, tiers and grants (the brand's figures).
ERASED_VALUES = {
    "display_name": "",
    "phone": "",
    "email": "",
    "gender": Gender.UNKNOWN.value,
    "birth_year": None,
    "age_band": "",
    "province": "",
    "city": "",
    "preferred_touch_channel": "",
    "marketing_consent": False,
    "automated_decisions_opt_out": True,
}

# Every text column of a row that belongs to a customer (a model with a foreign key to Customer, whatever its
# app) is one of these two kinds; tests/customers/test_erasure.py fails on a column that is neither.
# Free text people type or gateways return about the customer: cleared on erasure (and withheld in the audit
# trail's records of those rows). Named by model label, so customers depends on no app above it.
FREE_TEXT = {
    "loyalty.benefitgrant": ("note",),
    "engagement.touch": ("last_error",),
    "engagement.channeloptout": ("source",),
}
# Codes, ids and figures the product writes itself: kept (the brand's figures depend on them).
NOT_PERSONAL = {
    "orders.order": ("external_id", "currency", "original_currency"),
    "loyalty.tierchange": ("reason",),
    "analytics.customerscore": ("rfm_segment", "survival_curve", "top_covariates"),
    "analytics.customerrecommendation": ("skus", "sku_categories", "scores", "categories"),
    "engagement.touch": ("occasion", "sender", "stage", "tier_code"),
    "engagement.nextaction": ("reasons",),
    "customers.erasuretombstone": ("digest",),
}
# Free text of any customer of the brand in which an erased customer's name, phone, e-mail or id is replaced
# ("referred by 王小美" in another customer's grant note).
MENTIONS = {"loyalty.benefitgrant": ("note",)}
MENTION_REPLACEMENT = "[erased]"
# Shorter values are not looked for in other customers' free text: too likely to be part of other words.
MENTION_MIN_LENGTH = {"display_name": 2, "phone": 5, "email": 3, "external_id": 4}


def erased_external_id() -> str:
    """A random token: unlike a hash of the old id, it cannot be traced back to the person."""
    return ERASED_ID_PREFIX + secrets.token_hex(16)


def _linked_models() -> dict[str, tuple[type, str]]:
    """Model label -> (model, attname of its foreign key to Customer) of every model whose rows belong to a
    customer."""
    linked = {}
    for relation in Customer._meta.related_objects:
        if relation.many_to_many or relation.related_model is Customer:
            continue
        model = relation.related_model
        linked[model._meta.label_lower] = (model, relation.field.attname)
    return linked


@transaction.atomic
def customer_erase(
    *, brand, customer_id: int, now=None, actor=None, actor_label: str = ""
) -> tuple[Customer, bool]:
    """Erase one customer's personal data for good (PIPL erasure on request).

    - The name, phone, e-mail, gender, birth year, age band, region and touch preference are cleared; marketing
      consent is withdrawn and the customer is opted out of automated decisions, which keeps them out of
      automatic tier and benefit changes.
    - The external id is replaced by a random token, and a tombstone keeps the keyed hash of the old one
      (customers.selectors), so a re-imported file cannot bring the person back under it: imports attach
      such rows to this customer without personal data, or refuse them (Brand.erased_customer_rows).
    - Free text about the customer is cleared (grant notes, touch errors, opt-out sources: FREE_TEXT) and
      withheld in the audit trail's records of those rows; the name, phone, e-mail and id are replaced where
      other customers' grant notes mention them, and in the search term of the brand's customer-list exports.
      The admin history of the customer and of their rows is relabelled (the token instead of the old id) and
      scrubbed of those values.
    - Orders and every other row stay, so the brand's figures do not change. The erasure is in the audit trail
      (who, when, the customer's id and the counts of what was cleared; no personal data).

    `actor`: the staff user or API token principal (None: the system, named by `actor_label`). Idempotent:
    erasing again changes nothing. Returns (customer, erased_now). Raises Customer.DoesNotExist for a customer
    of another brand."""
    customer = Customer.objects.select_for_update().get(brand=brand, pk=customer_id)
    if customer.erased_at is not None:
        return customer, False
    when = now or timezone.now()
    personal = {
        "external_id": customer.external_id,
        "phone": customer.phone,
        "email": customer.email,
        "display_name": customer.display_name,
    }
    ErasureTombstone.objects.bulk_create(
        [
            ErasureTombstone(
                brand_id=brand.pk,
                customer=customer,
                digest=tombstone_digest(brand.pk, customer.external_id),
                erased_at=when,
            )
        ],
        ignore_conflicts=True,  # the same id erased before (on another customer): that tombstone stays
    )
    for field, value in ERASED_VALUES.items():
        setattr(customer, field, value)
    customer.external_id = erased_external_id()
    customer.erased_at = when
    customer.save(update_fields=[*ERASED_VALUES, "external_id", "erased_at", "updated_at"])

    counts: dict[str, int] = {}
    linked = _linked_models()
    for label, fields in FREE_TEXT.items():
        model, attname = linked[label]
        rows = model._base_manager.filter(brand_id=brand.pk, **{attname: customer.pk})
        for field in fields:
            counts[f"{label}.{field}"] = rows.exclude(**{field: ""}).update(**{field: ""})
        if label in AUDITED:
            counts[f"audit events of {label}"] = audit_withhold(
                brand_id=brand.pk, label=label, object_ids=rows.values_list("pk", flat=True), fields=fields
            )
    replacements = {
        name: value
        for name, value in personal.items()
        if name != "external_id" and value and len(value) >= MENTION_MIN_LENGTH[name]
    }
    if len(personal["external_id"]) >= MENTION_MIN_LENGTH["external_id"]:
        replacements["external_id"] = personal["external_id"]
    counts["mentions in other customers' notes"] = _scrub_mentions(brand.pk, linked, replacements.values())
    counts["export searches withheld"] = _scrub_export_searches(brand.pk, personal.values())
    counts["admin log entries relabelled"] = _relabel_admin_history(customer, linked, personal)
    customer_erased.send(sender=Customer, brand=brand, customer_id=customer.pk)
    audit_erasure(
        actor=actor,
        brand_id=brand.pk,
        customer_id=customer.pk,
        erased_at=when,
        counts=counts,
        label=actor_label,
    )
    logger.info("customer %s of brand %s: personal data erased", customer.pk, customer.brand_id)
    return customer, True


def _replaced(column: str, pairs: list[tuple[str, str]], params: list) -> str:
    """SQL of `column` with each (value, replacement) of `pairs` replaced, in order; parameters go to `params`."""
    expr = column
    for value, replacement in pairs:
        expr = f"replace({expr}, %s, %s)"
        params.extend([value, replacement])
    return expr


def _scrub_mentions(brand_id: int, linked: dict, values: Iterable[str]) -> int:
    """Replace the erased values in other customers' free text (MENTIONS) of the brand. Returns rows changed."""
    values = sorted(set(values), key=len, reverse=True)
    if not values:
        return 0
    changed = 0
    with connection.cursor() as cursor:
        for label, fields in MENTIONS.items():
            model, _attname = linked[label]
            table = model._meta.db_table
            for field in fields:
                column = model._meta.get_field(field).column
                params: list = []
                expr = _replaced(column, [(v, MENTION_REPLACEMENT) for v in values], params)
                found = " OR ".join(f"strpos({column}, %s) > 0" for _v in values)
                cursor.execute(
                    f"UPDATE {table} SET {column} = {expr} WHERE brand_id = %s AND ({found})",  # noqa: S608
                    [*params, brand_id, *values],
                )
                changed += cursor.rowcount
    return changed


def _scrub_export_searches(brand_id: int, values: Iterable[str]) -> int:
    """Withhold a customer-list export's search term (and any filter value) that holds an erased value: the
    job keeps its filters until its file expires, and a search may be the person's name or phone."""
    values = [v for v in values if v]
    if not values:
        return 0
    changed = []
    for job in ExportJob.objects.filter(brand_id=brand_id).exclude(filters="").only("pk", "filters"):
        encoded = {form for v in values for form in (v, quote(v, safe=""), quote_plus(v, safe=""))}
        if not any(form in job.filters for form in encoded):
            continue
        query = QueryDict(job.filters, mutable=True)
        for key, items in query.lists():
            query.setlist(key, ["[withheld]" if any(v in item for v in values) else item for item in items])
        job.filters = query.urlencode()
        if any(form in job.filters for form in encoded):  # not a query string after all: withhold it all
            job.filters = ""
        changed.append(job)
    if changed:
        ExportJob.objects.bulk_update(changed, ["filters"])
    return len(changed)


def _relabel_admin_history(customer: Customer, linked: dict, personal: dict[str, str]) -> int:
    """The admin log keeps str(customer), the old external id, for every change of the customer, and for rows
    whose name includes it (a grant is "coupon → <id>"): the token replaces the old id, and the other erased
    values are replaced in the change messages too. Returns the entries changed."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    types = ContentType.objects.get_for_models(Customer, *(model for model, _attname in linked.values()))
    table = LogEntry._meta.db_table
    values = sorted({v for v in personal.values() if v}, key=len, reverse=True)  # an id inside an e-mail
    pairs = [
        (v, customer.external_id if v == personal["external_id"] else MENTION_REPLACEMENT) for v in values
    ]
    changed = 0
    with connection.cursor() as cursor:
        params: list = [customer.external_id]
        message = _replaced("change_message", pairs, params)
        cursor.execute(
            f"UPDATE {table} SET object_repr = %s, change_message = {message} "  # noqa: S608
            "WHERE content_type_id = %s AND object_id = %s",
            [*params, types[Customer].pk, str(customer.pk)],
        )
        changed += cursor.rowcount
        if not values:
            return changed
        rows, row_params = [], []
        for model, attname in linked.values():
            rows.append(
                f"(content_type_id = %s AND object_id IN (SELECT id::text FROM {model._meta.db_table} "
                f"WHERE brand_id = %s AND {model._meta.get_field(attname).column} = %s))"
            )
            row_params += [types[model].pk, customer.brand_id, customer.pk]
        params = []
        object_repr = _replaced("object_repr", pairs, params)
        message = _replaced("change_message", pairs, params)
        mentioned = " OR ".join(
            "strpos(object_repr, %s) > 0 OR strpos(change_message, %s) > 0" for _v in values
        )
        cursor.execute(
            f"UPDATE {table} SET object_repr = left({object_repr}, 200), change_message = {message} "  # noqa: S608
            f"WHERE ({' OR '.join(rows)}) AND ({mentioned})",
            [*params, *row_params, *(v for v in values for _twice in range(2))],
        )
        changed += cursor.rowcount
    return changed
