"""Write a simulated demo brand into the database in bulk (COPY on PostgreSQL), in one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.brands.models import Brand
from apps.brands.services import brand_create
from apps.communities.models import Community, CommunityMembership
from apps.core.bulk import copy_rows, timestamp_texts
from apps.core.importing.staging import analyze
from apps.customers.models import Customer, age_band_for
from apps.demo.classic_world import ClassicWorldParams, simulate_classic
from apps.demo.models import DemoCustomerTruth, DemoTruth
from apps.demo.simulation import DemoTruthParams, simulate
from apps.engagement.models import ExperimentAssignment, GroupPost, Touch
from apps.loyalty.models import Benefit, BenefitGrant
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Beauty 演示美妆"
DEMO_DAYS = 548  # about 18 months


@dataclass
class DemoSeedSummary:
    brand_id: int
    slug: str
    seed: int
    n_customers: int
    start: datetime
    end: datetime
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)


def demo_period(*, end_date: date | None, tz) -> tuple[datetime, datetime]:
    """The simulated period: DEMO_DAYS up to `end_date` 00:00 brand time (today when not given)."""
    if end_date is None:
        end_date = timezone.now().astimezone(tz).date()
    end = datetime(end_date.year, end_date.month, end_date.day, tzinfo=tz)
    return end - timedelta(days=DEMO_DAYS), end


class NotADemoBrand(ValueError):
    """The brand holds real data: seeding the demo into it would delete that data."""


def _seedable(brand: Brand) -> bool:
    """A brand the demo may (re)write: one it made before (it has a DemoTruth) or one with no customers and no
    orders yet."""
    if DemoTruth.objects.filter(brand=brand).exists():
        return True
    return not (Customer.objects.filter(brand=brand).exists() or Order.objects.filter(brand=brand).exists())


def demo_seed(
    *,
    slug: str = DEMO_SLUG,
    customers: int = 5000,
    seed: int = 42,
    end_date: date | None = None,
    name: str | None = None,
    params: DemoTruthParams | None = None,
    classic: ClassicWorldParams | None = None,
) -> DemoSeedSummary:
    """Build (or rebuild) a demo brand: simulate, then replace the brand's generated data in one transaction.
    With `classic`, the world of classic shapes (apps.demo.classic_world) instead of the live-commerce one.

    The same slug, seed, customer count and end date give identical rows and external ids.
    """
    params = params or DemoTruthParams()
    existing = Brand.objects.filter(slug=slug).first()
    if existing is not None and not _seedable(existing):
        raise NotADemoBrand(
            gettext(
                "Brand %(slug)s holds data the demo did not make (customers or orders). The demo replaces a "
                "brand's data, so it seeds only a new brand, an empty one or an earlier demo brand: pick "
                "another slug."
            )
            % {"slug": slug}
        )
    name = name or (existing.name if existing else DEMO_NAME)
    tz = existing.tzinfo if existing else _zone(params.timezone)
    start, end = demo_period(end_date=end_date, tz=tz)

    clock = time.perf_counter()
    if classic is None:
        frames = simulate(customers, seed, start, end, params)
    else:
        frames = simulate_classic(customers, seed, start, end, classic)
    seconds = {"simulate": time.perf_counter() - clock}

    with transaction.atomic():
        brand, _created = brand_create(
            slug=slug,
            name=name,
            timezone=existing.timezone if existing else params.timezone,
            currency=params.currency,
        )
        summary = DemoSeedSummary(
            brand_id=brand.pk,
            slug=slug,
            seed=seed,
            n_customers=customers,
            start=start,
            end=end,
            seconds=seconds,
        )
        clock = time.perf_counter()
        summary.deleted = demo_data_delete(brand=brand)
        seconds["delete"] = time.perf_counter() - clock
        _write(brand, frames, end, summary)
        clock = time.perf_counter()
        _leftovers_delete(
            brand=brand,
            keep={
                Order: frames["orders"]["external_id"],
                Customer: frames["customers"]["external_id"],
                Stream: frames["streams"]["external_id"],
                Community: frames["communities"]["external_id"],
            },
            summary=summary,
        )
        seconds["delete leftovers"] = time.perf_counter() - clock
        clock = time.perf_counter()
        DemoTruth.objects.update_or_create(
            brand=brand,
            defaults={
                "seed": seed,
                "n_customers": customers,
                "start": start,
                "end": end,
                "params": params.to_json() if classic is None else classic.to_json(),
            },
        )
        seconds["truth"] = time.perf_counter() - clock
        clock = time.perf_counter()
        # planner statistics of the tables just written (a refresh often follows at once, before autovacuum
        # has looked; stale statistics make the feature SQL pick nested loops that run for minutes)
        analyze(*(model._meta.db_table for model in (*_PARENTS, *_LEAVES)))
        seconds["analyze"] = time.perf_counter() - clock
        clock = time.perf_counter()
    seconds["commit"] = time.perf_counter() - clock  # deferred foreign-key checks run here
    return summary


DEMO_FOLLOW_UP_DAYS = 90


def demo_scores_refresh(*, brand, end: datetime, between=None) -> list:
    """Publish the demo brand's scores twice: as of DEMO_FOLLOW_UP_DAYS days before its last simulated day, then
    as of that day; `between(first_run)` runs in between. The earlier run gives the reports that follow customers after a refresh (Kaplan-Meier by
    stage, the stage transition matrix, each customer's score history) real follow-up on the demo's first day.
    Returns the two runs."""
    from apps.analytics.services import scores_refresh

    last_day = (end - timedelta(days=1)).astimezone(brand.tzinfo).date()
    first = scores_refresh(
        brand=brand, as_of=last_day - timedelta(days=DEMO_FOLLOW_UP_DAYS), triggered_by="seed_demo"
    )
    if between is not None:
        between(first)  # e.g. the demo experiments, which start on the first run's scores
    return [first, scores_refresh(brand=brand, as_of=last_day, triggered_by="seed_demo")]


def _zone(name: str):
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


# Leaf tables of a brand (nothing of ours refers to them): emptied with one DELETE each and copied again.
_LEAVES = [
    Touch,
    GroupPost,
    ExperimentAssignment,
    DemoCustomerTruth,
    OrderItem,
    StreamView,
    CommunityMembership,
    BenefitGrant,
]
# Parent tables, keyed by (brand, external_id): upserted, then the leftovers deleted, children first.
_PARENTS = [Order, Customer, Stream, Community]


def demo_data_delete(*, brand) -> dict[str, int]:
    """Delete the brand's generated leaf rows (views, items, memberships, grants, customer truths) and truth.

    Customers, streams, orders and communities are not deleted here: `demo_seed` upserts them by external id
    and deletes only those the new run no longer has. Deleting a parent row costs one deferred foreign-key
    check per row against each child table at commit; even through the brand-leading indexes that is about
    36 s for 100k customers with their orders, against a few seconds for the upsert.
    """
    deleted = {}
    with connection.cursor() as cursor:
        for model in _LEAVES:
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE brand_id = %s", [brand.pk])
            deleted[model._meta.label] = cursor.rowcount
    DemoTruth.objects.filter(brand=brand).delete()
    return deleted


def _leftovers_delete(*, brand, keep: dict, summary: DemoSeedSummary) -> None:
    """Delete parent rows whose external ids the new run does not have (through the ORM, which cascades)."""
    for model in _PARENTS:
        wanted = keep.get(model)
        if wanted is None:
            continue
        rows = model.objects.filter(brand_id=brand.pk).values_list("external_id", "id")
        frame = pd.DataFrame(list(rows), columns=["ext", "id"])
        surplus = frame.loc[~frame["ext"].isin(wanted), "id"].tolist()
        if surplus:
            _count, per_model = model.objects.filter(pk__in=surplus).delete()
            summary.deleted[model._meta.label] = per_model.get(model._meta.label, 0)


def _ts(values: pd.Series) -> np.ndarray:
    """UTC timestamps as text the database stores and compares correctly; NaT becomes None."""
    return timestamp_texts(
        pd.Series(values).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]")
    )


def _col(values) -> np.ndarray:
    """A column as a numpy array; missing values of text columns become None."""
    series = pd.Series(values)
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)
    return series.to_numpy()


def _copy(model, brand, now, columns: dict, summary: DemoSeedSummary) -> None:
    """COPY whole columns (keyed by field name) into the model's table, with brand and timestamps.

    A parent table that already holds rows of the brand is upserted on (brand, external_id) through a
    temporary table, so existing rows keep their ids and nothing has to be deleted.
    """
    clock = time.perf_counter()
    n = len(next(iter(columns.values())))
    names = ["brand", "created_at", "updated_at", *columns]
    db_columns = [model._meta.get_field(name).column for name in names]
    values = [np.full(n, brand.pk), np.full(n, now, dtype=object), np.full(n, now, dtype=object)]
    rows = _rows([*values, *(_col(c) if not isinstance(c, np.ndarray) else c for c in columns.values())], n)
    table = model._meta.db_table
    upsert = model in _PARENTS and model.objects.filter(brand_id=brand.pk).exists()
    if not upsert:
        written = copy_rows(table, db_columns, rows)
    else:
        quote = connection.ops.quote_name
        staging = f"_demo_stage_{table}"
        cols = ", ".join(quote(c) for c in db_columns)
        updates = ", ".join(
            f"{quote(c)} = EXCLUDED.{quote(c)}"
            for c in db_columns
            if c not in ("brand_id", "external_id", "created_at")
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {quote(staging)}")
            cursor.execute(
                f"CREATE TEMP TABLE {quote(staging)} AS SELECT {cols} FROM {quote(table)} WITH NO DATA"
            )
        written = copy_rows(staging, db_columns, rows)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(table)} ({cols}) SELECT {cols} FROM {quote(staging)} "
                f"ON CONFLICT (brand_id, external_id) DO UPDATE SET {updates}"
            )
            cursor.execute(f"DROP TABLE {quote(staging)}")
    summary.rows[model._meta.label] = written
    summary.seconds[f"write {model._meta.label}"] = time.perf_counter() - clock


def _ids(model, brand, external_ids: pd.Series, key: str = "external_id") -> np.ndarray:
    """Database ids for external ids, in one query; -1 for the missing."""
    rows = model.objects.filter(brand_id=brand.pk).values_list(key, "id")
    frame = pd.DataFrame(list(rows), columns=[key, "id"])
    position = pd.Index(frame[key]).get_indexer(pd.Series(external_ids).fillna(""))
    ids = np.append(frame["id"].to_numpy(dtype=np.int64), -1)  # position -1 (missing) reads the -1
    return ids[position]


def _nullable_ids(ids: np.ndarray) -> np.ndarray:
    out = ids.astype(object)
    out[ids < 0] = None
    return out


def _rows(columns: list[np.ndarray], n: int, chunk: int = 50_000):
    """Rows of Python values, converted one chunk at a time to keep memory flat."""
    for lo in range(0, n, chunk):
        yield from zip(*(np.asarray(col[lo : lo + chunk]) for col in columns), strict=True)


def _write(brand, frames: dict[str, pd.DataFrame], end: datetime, summary: DemoSeedSummary) -> None:
    now = timezone.now()
    streams = frames["streams"]
    _copy(
        Stream,
        brand,
        now,
        {
            "external_id": _col(streams["external_id"]),
            "title": _col(streams["title"]),
            "host_name": _col(streams["host_name"]),
            "platform": _col(streams["platform"]),
            "category": _col(streams["category"]),
            "started_at": _ts(streams["started_at"]),
            "ended_at": _ts(streams["ended_at"]),
        },
        summary,
    )

    customers = frames["customers"]
    local_year = end.year
    birth = customers["birth_year"].to_numpy()
    bands = {int(y): str(age_band_for(local_year - int(y))) for y in np.unique(birth)}
    stream_ids = _ids(Stream, brand, customers["acquisition_stream"])
    _copy(
        Customer,
        brand,
        now,
        {
            "external_id": _col(customers["external_id"]),
            "display_name": _col(customers["display_name"]),
            "phone": _col(customers["phone"]),
            "gender": _col(customers["gender"]),
            "birth_year": birth,
            "age_band": np.array([bands[int(y)] for y in birth], dtype=object),
            "province": _col(customers["province"]),
            "city": _col(customers["city"]),
            "acquisition_channel": _col(customers["acquisition_channel"]),
            "acquisition_stream": _nullable_ids(stream_ids),
            "first_seen_at": _ts(customers["first_seen_at"]),
            "marketing_consent": _col(customers["marketing_consent"]),
            "automated_decisions_opt_out": _col(customers["automated_decisions_opt_out"]),
            "preferred_touch_channel": _col(customers["preferred_touch_channel"]),
        },
        summary,
    )
    customer_index = pd.DataFrame(
        list(Customer.objects.filter(brand_id=brand.pk).values_list("external_id", "id")),
        columns=["ext", "id"],
    )
    customer_pos = pd.Index(customer_index["ext"])
    customer_db = customer_index["id"].to_numpy()
    stream_index = pd.DataFrame(
        list(Stream.objects.filter(brand_id=brand.pk).values_list("external_id", "id")), columns=["ext", "id"]
    )
    stream_pos = pd.Index(stream_index["ext"])
    stream_db = stream_index["id"].to_numpy()

    def cust_ids(ext):
        return customer_db[customer_pos.get_indexer(ext)]

    views = frames["views"]
    _copy(
        StreamView,
        brand,
        now,
        {
            "stream": stream_db[stream_pos.get_indexer(views["stream"])],
            "customer": cust_ids(views["customer"]),
            "joined_at": _ts(views["joined_at"]),
            "watch_seconds": views["watch_seconds"].to_numpy(),
            "comments": views["comments"].to_numpy(),
            "likes": views["likes"].to_numpy(),
            "shares": views["shares"].to_numpy(),
        },
        summary,
    )

    communities = frames["communities"]
    _copy(
        Community,
        brand,
        now,
        {
            "external_id": _col(communities["external_id"]),
            "name": _col(communities["name"]),
            "kind": _col(communities["kind"]),
            "opened_at": _ts(communities["opened_at"]),
        },
        summary,
    )
    memberships = frames["memberships"]
    community_ids = _ids(Community, brand, memberships["community"])
    _copy(
        CommunityMembership,
        brand,
        now,
        {
            "community": community_ids,
            "customer": cust_ids(memberships["customer"]),
            "joined_at": _ts(memberships["joined_at"]),
            "left_at": _ts(memberships["left_at"]),
            "activity_count": memberships["activity_count"].to_numpy(),
        },
        summary,
    )

    orders = frames["orders"]
    order_streams = stream_pos.get_indexer(orders["stream"].fillna(""))
    _copy(
        Order,
        brand,
        now,
        {
            "external_id": _col(orders["external_id"]),
            "customer": cust_ids(orders["customer"]),
            "placed_at": _ts(orders["placed_at"]),
            "status": _col(orders["status"]),
            "total_amount": orders["total_amount"].round(2).to_numpy(),
            "currency": _col(orders["currency"]),
            "channel": _col(orders["channel"]),
            "stream": _nullable_ids(np.append(stream_db, -1)[order_streams]),
        },
        summary,
    )
    items = frames["order_items"]
    order_ids = _ids(Order, brand, items["order"])
    _copy(
        OrderItem,
        brand,
        now,
        {
            "order": order_ids,
            "line_no": items["line_no"].to_numpy(),
            "sku": _col(items["sku"]),
            "category": _col(items["category"]),
            "quantity": items["quantity"].to_numpy(),
            "unit_price": items["unit_price"].round(4).to_numpy(),
            "amount": items["amount"].round(2).to_numpy(),
        },
        summary,
    )

    grants = frames["grants"]
    benefit_ids = _ids(Benefit, brand, grants["benefit_code"], key="code")
    grants = grants.loc[benefit_ids >= 0]  # a benefit staff deleted is simply not granted
    benefit_ids = benefit_ids[benefit_ids >= 0]
    _copy(
        BenefitGrant,
        brand,
        now,
        {
            "customer": cust_ids(grants["customer"]),
            "benefit": benefit_ids,
            "granted_at": _ts(grants["granted_at"]),
            "expires_at": _ts(grants["expires_at"]),
            "redeemed_at": _ts(grants["redeemed_at"]),
            "revoked_at": np.full(len(grants), None, dtype=object),
            "source": _col(grants["source"]),
            "note": _col(grants["note"]),
        },
        summary,
    )

    truth = frames["customer_truth"]
    _copy(
        DemoCustomerTruth,
        brand,
        now,
        {
            "customer": cust_ids(truth["customer"]),
            "is_alive_at_end": truth["is_alive_at_end"].to_numpy(),
            "died_at": _ts(truth["died_at"]),
            "spend_level": truth["spend_level"].round(2).to_numpy(),
            "view_propensity": truth["view_propensity"].to_numpy(),
        },
        summary,
    )


def demo_statistics_refresh() -> float:
    """ANALYZE the tables the demo's follow-ups, experiments and refreshes filled after the bulk load (touches,
    assignments, grants, next actions…): pages join them at once, and autovacuum may be off or behind. A few
    seconds at most at the demo's sizes; returns them."""
    from django.apps import apps as registry

    clock = time.perf_counter()
    tables = [
        model._meta.db_table
        for label in ("engagement", "loyalty", "analytics")
        for model in registry.get_app_config(label).get_models()
        if not model._meta.proxy and model._meta.managed
    ]
    analyze(*tables)
    return time.perf_counter() - clock
