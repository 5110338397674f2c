"""Import live streams and stream views (one engagement row per viewer per stream)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing import Column, ImportResult, ImportRun, RecordParser, StagingTable, upsert
from apps.core.importing import fields as f
from apps.core.importing.staging import stage_and_upsert
from apps.customers.importers import customers_stage_seen, customers_upsert_seen
from apps.customers.selectors import ErasedIds
from apps.streams.models import Platform, Stream, StreamView
from apps.streams.signals import streams_ended

PLATFORM_ALIASES = {
    "抖音": "douyin",
    "快手": "kuaishou",
    "淘宝": "taobao",
    "淘宝直播": "taobao",
    "视频号": "wechat_channels",
}

# file column -> (database column, staging SQL type)
STREAM_COLUMNS = {
    "title": ("title", "text"),
    "host": ("host_name", "text"),
    "platform": ("platform", "text"),
    "category": ("category", "text"),
    "started_at": ("started_at", "timestamptz"),
    "ended_at": ("ended_at", "timestamptz"),
}


def streams_import(
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
    """Create or update live streams; only columns present in the source update existing streams."""
    run = ImportRun(
        entity=_("Live streams"),
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
    dates = f.DateTimeParser(brand.tzinfo)
    columns = [
        Column("stream_id", f.external_id(), required=True),
        Column("started_at", dates, required=True),
        Column("title", f.text(300), default=""),
        Column("host", f.text(200), default=""),
        Column("platform", f.ChoiceParser(Platform.values, PLATFORM_ALIASES), default=Platform.OTHER.value),
        Column("category", f.text(100), default=""),
        Column("ended_at", dates),
    ]
    parser = RecordParser(run.table, columns, run.log)
    file_columns = [c for c in STREAM_COLUMNS if c in parser.present]
    staged_rows: list[list] = []
    seen: dict[str, int] = {}
    with run.phase("parse"):
        for line, values in parser:
            ext = values["stream_id"]
            if ext in seen:
                run.log.add(
                    line, "stream_id", _("the same stream appears on line %(line)d") % {"line": seen[ext]}
                )
                continue
            seen[ext] = line
            ended = values.get("ended_at")
            if ended is not None and ended < values["started_at"]:
                run.log.add(line, "ended_at", _("must not be before started_at"))
                continue
            staged_rows.append([ext, *(values[c] for c in file_columns)])
    if not run.may_write:
        return run.finish(parser.rows_read)

    db_columns = [STREAM_COLUMNS[c] for c in file_columns]
    stage = StagingTable("_imp_streams", [("external_id", "text"), *db_columns])
    supplied = [column for column, _t in db_columns]
    defaults = {"title": "", "host_name": "", "platform": Platform.OTHER.value, "category": ""}
    defaults = {c: v for c, v in defaults.items() if c not in supplied}
    stage_and_upsert(
        run=run,
        model=Stream,
        brand_id=brand.pk,
        stage=stage,
        rows=staged_rows,
        supplied=supplied,
        defaults=defaults,
    )
    if "ended_at" in file_columns and run.result.committed:
        ended = [row[0] for row in staged_rows if row[1 + file_columns.index("ended_at")] is not None]
        _announce_ended(brand, Stream.objects.filter(brand=brand, external_id__in=ended))
    return run.finish(parser.rows_read)


def _announce_ended(brand: Brand, streams) -> None:
    """Send signals.streams_ended for those of `streams` that have ended (one query)."""
    ids = list(streams.filter(ended_at__isnull=False).values_list("pk", flat=True))
    if ids:
        streams_ended.send(sender=Stream, brand=brand, stream_ids=ids)


VIEW_COUNTS = ("watch_seconds", "comments", "likes", "shares")


def stream_views_import(
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
    """Create or update stream views (one per customer per stream); unknown customers are created. Views of an
    erased customer (by the old id) go to the erased customer, or are errors when the brand refuses them."""
    run = ImportRun(
        entity=_("Stream views"),
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
    streams = {
        ext: (pk, started)
        for ext, pk, started in Stream.objects.filter(brand=brand).values_list(
            "external_id", "id", "started_at"
        )
    }
    unknown_stream = _("unknown live stream")

    def stream(raw: str):
        try:
            return streams[raw]
        except KeyError:
            raise f.FieldError(unknown_stream) from None

    counts = f.IntParser(0)
    columns = [
        Column("stream_id", stream, required=True),
        Column("customer_id", f.external_id(), required=True),
        Column("joined_at", f.DateTimeParser(brand.tzinfo)),
        *(Column(c, counts, default=0) for c in VIEW_COUNTS),
    ]
    parser = RecordParser(run.table, columns, run.log)
    present_counts = [c for c in VIEW_COUNTS if c in parser.present]
    staged_rows: list[list] = []
    seen: dict[tuple[int, str], int] = {}
    first_seen: dict[str, object] = {}
    erased = ErasedIds(brand)
    with run.phase("parse"):
        for line, values in parser:
            (stream_pk, started), customer = values["stream_id"], values["customer_id"]
            if (target := erased.target(customer)) is not None:
                if erased.refuse:
                    run.log.add(line, "customer_id", erased.reason)
                    continue
                customer = target
            key = (stream_pk, customer)
            if key in seen:
                run.log.add(
                    line,
                    "customer_id",
                    _("the same stream and customer appear on line %(line)d") % {"line": seen[key]},
                )
                continue
            seen[key] = line
            if target is not None:
                erased.kept += 1
            joined = values.get("joined_at") or started
            known = first_seen.get(customer)
            if known is None or joined < known:
                first_seen[customer] = joined
            staged_rows.append([stream_pk, customer, joined, *(values[c] for c in present_counts)])
    if not run.may_write:
        return run.finish(parser.rows_read)

    stage = StagingTable(
        "_imp_stream_views",
        [("stream_id", "bigint"), ("customer_ext", "text"), ("joined_at", "timestamptz")]
        + [(c, "integer") for c in present_counts],
    )
    defaults = {c: 0 for c in VIEW_COUNTS if c not in present_counts}
    now = timezone.now()
    with run.writing():
        with run.phase("copy"):
            customer_stage, customers_staged = customers_stage_seen(first_seen)
            stage.create()
            staged = stage.load(staged_rows)
        with run.phase("upsert"):
            customers = customers_upsert_seen(
                brand=brand, stage=customer_stage, staged=customers_staged, now=now
            )
            values = {"stream_id": "s.stream_id", "customer_id": "c.id", "joined_at": "s.joined_at"}
            values.update({c: f"s.{c}" for c in present_counts})
            values.update({c: "%s" for c in defaults})
            update = ["joined_at", *present_counts]
            if "joined_at" not in parser.present:
                update.remove("joined_at")
            run.count(
                upsert(
                    model=StreamView,
                    brand_id=brand.pk,
                    values=values,
                    value_params=list(defaults.values()),
                    source=(
                        f"{stage.name} s JOIN customers_customer c "
                        "ON c.brand_id = %s AND c.external_id = s.customer_ext"
                    ),
                    params=[brand.pk],
                    conflict=["brand_id", "stream_id", "customer_id"],
                    update=update,
                    staged=staged,
                    now=now,
                )
            )
    run.result.details = {_("customers created"): customers.created}
    if erased.kept:
        run.result.details[_("rows of erased customers, kept anonymous")] = erased.kept
    if run.result.committed:
        _announce_ended(brand, Stream.objects.filter(brand=brand, pk__in={row[0] for row in staged_rows}))
    return run.finish(parser.rows_read)
