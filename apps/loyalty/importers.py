"""Import benefit redemptions (the POS, the mini-program or the platform's coupon report says a customer used
a benefit): each row redeems one of the customer's grants of that benefit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing import Column, ImportResult, ImportRun, RecordParser
from apps.core.importing import fields as f
from apps.customers.models import Customer
from apps.customers.selectors import ErasedIds
from apps.loyalty.models import Benefit, BenefitGrant


def redemptions_import(
    *,
    brand: Brand,
    path=None,
    rows: Iterable[Mapping[str, object]] | None = None,
    name: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: bool = False,
    encoding: str | None = None,
) -> ImportResult:
    """Redeem grants: columns customer_id, benefit (the benefit's code), redeemed_at (required) and grant_id
    (optional: the grant's id, when the source knows it). Without grant_id a row takes the customer's grant of
    that benefit that was open at redeemed_at and expires first. A grant already redeemed at that moment is
    unchanged (re-importing a file is harmless); every other problem is an error naming the line and column:
    unknown customer or benefit, no grant open then, a grant that was revoked, expired or redeemed at another
    moment. All rows are written in one transaction, or none. A row of an erased customer (by the old id)
    redeems the erased customer's grant, or is an error when the brand refuses rows of erased customers."""
    run = ImportRun(
        entity=_("Benefit redemptions"),
        path=path,
        rows=rows,
        name=name,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        progress=progress,
        encoding=encoding,
    )
    if run.failed:
        return run.finish(0)
    columns = [
        Column("customer_id", f.external_id(), required=True),
        Column("benefit", f.text(64), required=True),
        Column("redeemed_at", f.DateTimeParser(brand.tzinfo), required=True),
        Column("grant_id", f.IntParser(1)),
    ]
    parser = RecordParser(run.table, columns, run.log)
    parsed: list[tuple[int, dict]] = []
    erased = ErasedIds(brand)
    with run.phase("parse"):
        for line, values in parser:
            if (target := erased.target(values["customer_id"])) is not None:
                if erased.refuse:
                    run.log.add(line, "customer_id", erased.reason)
                    continue
                values["customer_id"] = target
                erased.kept += 1
            parsed.append((line, values))
    customers = dict(
        Customer.objects.filter(
            brand=brand, external_id__in={v["customer_id"] for _, v in parsed}
        ).values_list("external_id", "pk")
    )
    benefits = dict(
        Benefit.objects.filter(brand=brand, code__in={v["benefit"] for _, v in parsed}).values_list(
            "code", "pk"
        )
    )
    grants: dict[tuple[int, int], list[BenefitGrant]] = {}
    by_id: dict[int, BenefitGrant] = {}
    for grant in BenefitGrant.objects.filter(
        brand=brand, customer_id__in=set(customers.values()), benefit_id__in=set(benefits.values())
    ).order_by("expires_at", "pk"):
        grants.setdefault((grant.customer_id, grant.benefit_id), []).append(grant)
        by_id[grant.pk] = grant
    taken: set[int] = set()
    updates: list[tuple[int, datetime]] = []
    unchanged = 0
    with run.phase("match"):
        for line, values in parsed:
            customer = customers.get(values["customer_id"])
            benefit = benefits.get(values["benefit"])
            when = values["redeemed_at"]
            if customer is None:
                run.log.add(line, "customer_id", _("no customer with this id in the brand"))
                continue
            if benefit is None:
                run.log.add(line, "benefit", _("no benefit with this code in the brand"))
                continue
            grant_id = values.get("grant_id")
            if grant_id is not None:
                grant = by_id.get(grant_id)
                if grant is None or grant.customer_id != customer or grant.benefit_id != benefit:
                    run.log.add(line, "grant_id", _("no grant with this id for this customer and benefit"))
                    continue
                problem = _problem(grant, when)
            else:
                candidates = grants.get((customer, benefit), [])
                same = next((g for g in candidates if g.redeemed_at == when and g.pk not in taken), None)
                grant = same or next(
                    (g for g in candidates if g.pk not in taken and _problem(g, when) is None), None
                )
                problem = (
                    None
                    if grant is not None
                    else _("no grant of this benefit was open for the customer then")
                )
            if problem is not None:
                run.log.add(line, "redeemed_at" if grant_id is None else "grant_id", problem)
                continue
            if grant.pk in taken:
                run.log.add(line, "grant_id", _("this grant is redeemed by another line of the file"))
                continue
            taken.add(grant.pk)
            if grant.redeemed_at == when:
                unchanged += 1
            else:
                updates.append((grant.pk, when))
    if not run.may_write:
        return run.finish(parser.rows_read)
    with run.writing(), run.phase("update"):
        if updates:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""UPDATE {BenefitGrant._meta.db_table} g SET redeemed_at = x.at, updated_at = %s
                        FROM unnest(%s::bigint[], %s::timestamptz[]) AS x(id, at)
                        WHERE g.brand_id = %s AND g.id = x.id AND g.redeemed_at IS NULL AND g.revoked_at IS NULL""",  # noqa: S608
                    [timezone.now(), [u[0] for u in updates], [u[1] for u in updates], brand.pk],
                )
                run.result.updated += cursor.rowcount
    run.result.unchanged += unchanged
    if erased.kept:
        run.result.details[_("rows of erased customers, kept anonymous")] = erased.kept
    return run.finish(parser.rows_read)


def _problem(grant: BenefitGrant, when: datetime) -> str | None:
    """Why this grant cannot be redeemed at `when` (None: it can, or already was at that moment)."""
    if grant.redeemed_at is not None:
        if grant.redeemed_at == when:
            return None
        return _("the grant was already redeemed at %(at)s") % {"at": grant.redeemed_at.isoformat()}
    if grant.revoked_at is not None:
        return _("the grant was revoked")
    if when < grant.granted_at:
        return _("before the grant was made (%(at)s)") % {"at": grant.granted_at.isoformat()}
    if when >= grant.expires_at:
        return _("the grant had expired (%(at)s)") % {"at": grant.expires_at.isoformat()}
    return None
