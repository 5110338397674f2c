"""Customer import, and the shared step that creates customers other imports mention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing import Column, ImportResult, ImportRun, RecordParser, StagingTable
from apps.core.importing import fields as f
from apps.core.importing.staging import (
    UpsertCounts,
    insert_defaults,
    merge,
    stage_and_upsert,
)
from apps.customers.models import AcquisitionChannel, AgeBand, Customer, Gender, TouchChannel, age_band_for
from apps.customers.selectors import ErasedIds
from apps.customers.signals import customers_changed
from apps.streams.models import Stream

GENDER_ALIASES = {"f": "female", "m": "male", "女": "female", "男": "male", "未知": "unknown", "u": "unknown"}

# file column -> (database column, staging SQL type)
DB_COLUMNS = {
    "name": ("display_name", "text"),
    "phone": ("phone", "text"),
    "email": ("email", "text"),
    "gender": ("gender", "text"),
    "birth_year": ("birth_year", "integer"),
    "age_band": ("age_band", "text"),
    "province": ("province", "text"),
    "city": ("city", "text"),
    "acquisition_channel": ("acquisition_channel", "text"),
    "acquisition_stream_id": ("acquisition_stream_id", "bigint"),
    "first_seen_at": ("first_seen_at", "timestamptz"),
    "marketing_consent": ("marketing_consent", "boolean"),
    "automated_decisions_opt_out": ("automated_decisions_opt_out", "boolean"),
    "preferred_touch_channel": ("preferred_touch_channel", "text"),
}


def customers_stage_seen(first_seen: Mapping[str, datetime | None]) -> tuple[StagingTable, int]:
    """Stage the customers an import saw (external id -> earliest time seen) for customers_upsert_seen, which
    creates the ones the brand does not have and moves first_seen_at of existing ones earlier. Must run
    inside the import's transaction."""
    rows = [[ext, seen] for ext, seen in first_seen.items()]
    return customers_stage_seen_columns([r[0] for r in rows], [r[1] for r in rows])


def customers_stage_seen_columns(external_ids: list, first_seen: list) -> tuple[StagingTable, int]:
    """Stage (external id, first seen) columns; times as aware datetimes or ISO text with an offset."""
    stage = StagingTable("_imp_seen_customers", [("external_id", "text"), ("first_seen_at", "timestamptz")])
    stage.create()
    return stage, stage.load_columns([external_ids, first_seen])


def customers_upsert_seen(*, brand: Brand, stage: StagingTable, staged: int, now=None) -> UpsertCounts:
    """Create the staged customers the brand does not have; move an existing customer's first_seen_at earlier,
    or replace it when it is before the plausible range (stored before imports checked dates: a 1900 order
    once moved it to 1899, and since it only moves earlier, no corrected import could undo that)."""
    earliest = f.plausible_dates(brand.tzinfo).earliest.isoformat()  # a datetime's ISO text: safe as SQL
    defaults = insert_defaults(Customer, {"external_id", "first_seen_at"})
    values = {"external_id": "s.external_id", "first_seen_at": "s.first_seen_at"}
    values.update({column: "%s" for column in defaults})
    return merge(
        model=Customer,
        brand_id=brand.pk,
        source=f"{stage.name} s",
        key={"external_id": "s.external_id"},
        values=values,
        value_params=list(defaults.values()),
        update=["first_seen_at"],
        changed=(
            "s.first_seen_at < t.first_seen_at OR t.first_seen_at IS NULL "
            f"OR t.first_seen_at < '{earliest}'::timestamptz"
        ),
        staged=staged,
        now=now or timezone.now(),
    )


def _columns(brand: Brand, streams: dict[str, int]) -> list[Column]:
    unknown_stream = _("unknown live stream")

    def stream_id(raw: str) -> int:
        try:
            return streams[raw]
        except KeyError:
            raise f.FieldError(unknown_stream) from None

    return [
        Column("customer_id", f.external_id(), required=True),
        Column("name", f.text(200), default=""),
        Column("phone", f.phone(), default=""),
        Column("email", f.email(), default=""),
        Column("gender", f.ChoiceParser(Gender.values, GENDER_ALIASES), default=Gender.UNKNOWN.value),
        # not born yet is no birth year (the table takes up to 2100; an import, up to this year)
        Column("birth_year", f.IntParser(1900, timezone.now().year)),
        Column("age", f.IntParser(0, 150)),
        Column("age_band", f.ChoiceParser(AgeBand.values), default=""),
        Column("province", f.text(64), default=""),
        Column("city", f.text(64), default=""),
        Column(
            "acquisition_channel",
            f.ChoiceParser(AcquisitionChannel.values),
            default=AcquisitionChannel.OTHER.value,
        ),
        Column("acquisition_stream_id", stream_id),
        Column("first_seen_at", f.DateTimeParser(brand.tzinfo)),
        Column("marketing_consent", f.BoolParser(), default=False),
        Column("automated_decisions_opt_out", f.BoolParser(), default=False),
        Column("preferred_touch_channel", f.ChoiceParser(TouchChannel.values), default=""),
    ]


def customers_import(
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
    """Create or update customers from a CSV file (`path`) or dict rows. On existing customers only the
    columns present in the source are updated. A row of an erased customer (its old id, recognised by the
    tombstone, or its erasure token) writes nothing: it is skipped, or an error when the brand refuses rows
    of erased customers."""
    run = ImportRun(
        entity=_("Customers"),
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
    streams = dict(Stream.objects.filter(brand=brand).values_list("external_id", "id"))
    parser = RecordParser(run.table, _columns(brand, streams), run.log)
    present = parser.present
    file_columns = [c for c in DB_COLUMNS if c in present]
    if "age" in present and "age_band" not in present:
        file_columns.append("age_band")
    staged_rows: list[list] = []
    seen: dict[str, int] = {}
    erased = ErasedIds(brand)
    with run.phase("parse"):
        for line, values in parser:
            ext = values["customer_id"]
            if ext in seen:
                run.log.add(
                    line, "customer_id", _("the same customer appears on line %(line)d") % {"line": seen[ext]}
                )
                continue
            seen[ext] = line
            if erased.target(ext) is not None:
                # Nothing of this row may reach the erased customer: every column is about the person.
                if erased.refuse:
                    run.log.add(line, "customer_id", erased.reason)
                else:
                    run.drop_line(line)
                    erased.kept += 1
                continue
            if "age" in present and not values.get("age_band") and values.get("age") is not None:
                values["age_band"] = age_band_for(values["age"]).value
            staged_rows.append([ext, *(values.get(c, "") for c in file_columns)])
    if erased.kept:
        run.result.details[_("rows of erased customers, not written")] = erased.kept
    if not run.may_write:
        return run.finish(parser.rows_read)

    db_columns = [DB_COLUMNS[c] for c in file_columns]
    stage = StagingTable("_imp_customers", [("external_id", "text"), *db_columns])
    supplied = [column for column, _t in db_columns]
    stage_and_upsert(
        run=run,
        model=Customer,
        brand_id=brand.pk,
        stage=stage,
        rows=staged_rows,
        supplied=supplied,
        defaults=insert_defaults(Customer, {"external_id", *supplied}),
    )
    customers_changed.send(sender=Customer, brand=brand)
    return run.finish(parser.rows_read)
