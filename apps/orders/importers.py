"""Order import: one CSV row per order line; rows sharing an order_id form one order.

The row loop is hand-written rather than built from generic Column specs because it is the hot path
(hundreds of thousands of rows per import); it still uses the shared parsers, caches and error log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing import ImportResult, ImportRun, StagingTable, upsert
from apps.core.importing import fields as f
from apps.core.importing.errors import FieldError
from apps.core.importing.sources import map_header, with_progress
from apps.core.importing.staging import ANALYZE_THRESHOLD, adapt_datetimes, analyze
from apps.customers.importers import customers_stage_seen, customers_upsert_seen
from apps.orders.models import Order, OrderItem, OrderStatus, SalesChannel
from apps.streams.models import Stream

REQUIRED = ("customer_id", "ordered_at", "amount")
OPTIONAL = ("order_id", "quantity", "category", "sku", "stream_id", "channel", "status", "currency")
STATUS_ALIASES = {"已支付": "paid", "已退款": "refunded", "已取消": "cancelled"}
FOUR_PLACES = Decimal("0.0001")
TWO_PLACES = Decimal("0.01")
# Header of one order: every line of the order must agree on these.
HEADER_COLUMNS = ("customer_id", "ordered_at", "status", "stream_id", "channel", "currency")


class _Parsed:
    def __init__(self):
        self.rows_read = 0
        # order external id -> [header tuple, total, line count, first file line]
        self.orders: dict[str, list] = {}
        # (order external id, line_no, sku, category, quantity, unit_price, amount, file line)
        self.items: list[tuple] = []
        self.bad_orders: set[str] = set()


def _parse(table, index: dict[str, int], brand: Brand, streams: dict[str, int], log) -> _Parsed:
    out = _Parsed()
    orders = out.orders
    items_append = out.items.append
    bad_orders = out.bad_orders
    add_error = log.add
    width = len(table.header)
    absent = width  # absent columns read the "" appended to every record
    columns = ("order_id", "customer_id", "ordered_at", "amount", "quantity", "category", "sku")
    columns += ("stream_id", "channel", "status", "currency")
    get = itemgetter(*(index.get(c, absent) for c in columns))

    parse_dt = f.DateTimeParser(brand.tzinfo)
    dates = parse_dt.cache
    parse_amount = f.DecimalParser(places=2, max_digits=14)
    amounts = parse_amount.cache
    parse_qty = f.IntParser(1, 2_147_483_647)
    quantities = {"": 1, "1": 1}
    parse_status = f.ChoiceParser(OrderStatus.values, STATUS_ALIASES)
    statuses = {"": OrderStatus.PAID.value}
    parse_channel = f.ChoiceParser(SalesChannel.values)
    channels: dict[str, str] = {}
    parse_currency = f.currency()
    currencies = {"": brand.currency}
    parse_id = f.external_id()
    required = _("a value is required")
    unknown_stream = _("unknown live stream")
    differs = _("differs from line %(line)d of the same order")
    too_many = _("more values than header columns")
    live, other = SalesChannel.LIVE_STREAM.value, SalesChannel.OTHER.value
    occurrences: dict[str, int] = {}

    for line, record in with_progress(table):
        out.rows_read += 1
        if len(record) != width:
            if len(record) > width and any(v.strip() for v in record[width:]):
                add_error(line, "*", too_many)
                continue
            record = (record + [""] * width)[:width]
        record.append("")
        oid, cust, at, amt, qty, cat, sku, sid, chan, st, cur = get(record)
        ok = True

        cust = cust.strip()
        if not cust:
            add_error(line, "customer_id", required)
            ok = False
        elif len(cust) > 128:
            try:
                parse_id(cust)
            except FieldError as exc:
                add_error(line, "customer_id", str(exc))
                ok = False

        placed = dates.get(at)
        if placed is None:
            raw = at.strip()
            if not raw:
                add_error(line, "ordered_at", required)
                ok = False
            else:
                try:
                    placed = parse_dt(raw)
                except FieldError as exc:
                    add_error(line, "ordered_at", str(exc))
                    ok = False

        amount = amounts.get(amt)
        if amount is None:
            raw = amt.strip()
            if not raw:
                add_error(line, "amount", required)
                ok = False
            else:
                try:
                    amount = parse_amount(raw)
                except FieldError as exc:
                    add_error(line, "amount", str(exc))
                    ok = False

        quantity = quantities.get(qty)
        if quantity is None:
            raw = qty.strip()
            try:
                quantity = parse_qty(raw) if raw else 1
                quantities[qty] = quantity
            except FieldError as exc:
                add_error(line, "quantity", str(exc))
                ok = False

        if sid:
            sid = sid.strip()
        if sid:
            stream_id = streams.get(sid)
            if stream_id is None:
                add_error(line, "stream_id", unknown_stream)
                ok = False
        else:
            stream_id = None

        if chan:
            channel = channels.get(chan)
            if channel is None:
                raw = chan.strip()
                try:
                    channel = parse_channel(raw) if raw else None
                    if channel is not None:
                        channels[chan] = channel
                except FieldError as exc:
                    add_error(line, "channel", str(exc))
                    ok = False
        else:
            channel = None
        if channel is None:
            channel = live if sid else other

        status = statuses.get(st)
        if status is None:
            raw = st.strip()
            try:
                status = parse_status(raw) if raw else OrderStatus.PAID.value
                statuses[st] = status
            except FieldError as exc:
                add_error(line, "status", str(exc))
                ok = False

        currency = currencies.get(cur)
        if currency is None:
            raw = cur.strip()
            try:
                currency = parse_currency(raw) if raw else brand.currency
                currencies[cur] = currency
            except FieldError as exc:
                add_error(line, "currency", str(exc))
                ok = False

        if sku:
            sku = sku.strip()
            if len(sku) > 128:
                add_error(line, "sku", _("longer than %(max)d characters") % {"max": 128})
                ok = False
        if cat:
            cat = cat.strip()
            if len(cat) > 100:
                add_error(line, "category", _("longer than %(max)d characters") % {"max": 100})
                ok = False

        if oid:
            oid = oid.strip()
            if len(oid) > 128:
                add_error(line, "order_id", _("longer than %(max)d characters") % {"max": 128})
                ok = False
        if not ok:
            if oid:
                bad_orders.add(oid)
            continue

        if quantity == 1:
            unit_price = amount
        else:
            unit_price = (amount / quantity).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)
        header = (cust, placed, status, stream_id, channel, currency)

        if not oid:
            # No order id: derive a stable one from the row's content and its occurrence number, so a
            # re-import finds the same orders and two identical rows stay two orders.
            content = "\x1f".join(
                (cust, placed.isoformat(), str(amount.quantize(TWO_PLACES)), str(quantity), cat, sku)
                + (sid, channel, status, currency)
            )
            n = occurrences.get(content, 0) + 1
            occurrences[content] = n
            digest = hashlib.blake2b(f"{content}\x1e{n}".encode(), digest_size=12).hexdigest()
            oid = "auto-" + digest

        order = orders.get(oid)
        if order is None:
            orders[oid] = [header, amount, 1, line]
            items_append((oid, 1, sku, cat, quantity, unit_price, amount, line))
            continue
        if order[0] != header:
            for position, column in enumerate(HEADER_COLUMNS):
                if order[0][position] != header[position]:
                    add_error(line, column, differs % {"line": order[3]})
            bad_orders.add(oid)
            continue
        order[1] += amount
        order[2] += 1
        items_append((oid, order[2], sku, cat, quantity, unit_price, amount, line))
    return out


def orders_import(
    *,
    brand: Brand,
    path=None,
    rows: Iterable[Mapping[str, object]] | None = None,
    name: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: bool = False,
) -> ImportResult:
    """Create or update orders and their lines from a CSV file (`path`) or dict rows; create customers the
    brand does not know yet. See the import_orders command for the columns."""
    run = ImportRun(
        entity=_("Orders"),
        path=path,
        rows=rows,
        name=name,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        progress=progress,
    )
    if run.failed:
        return run.finish(0)
    index = map_header(run.table, required=REQUIRED, optional=OPTIONAL, log=run.log)
    if run.log.errors:
        return run.finish(0)
    streams = dict(Stream.objects.filter(brand=brand).values_list("external_id", "id"))
    with run.phase("parse"):
        parsed = _parse(run.table, index, brand, streams, run.log)
        items = parsed.items
        if parsed.bad_orders:
            kept = []
            dropped_message = _("skipped with the rest of its order: another line of the order is invalid")
            for item in items:
                if item[0] in parsed.bad_orders:
                    run.drop_line(item[7])
                    if skip_invalid:
                        run.log.warn(item[7], "order_id", dropped_message)
                else:
                    kept.append(item)
            items = kept
            for oid in parsed.bad_orders:
                parsed.orders.pop(oid, None)
        first_seen: dict[str, object] = {}
        for header, _total, _n, _line in parsed.orders.values():
            seen = first_seen.get(header[0])
            if seen is None or header[1] < seen:
                first_seen[header[0]] = header[1]
    if not run.may_write:
        return run.finish(parsed.rows_read)

    now = timezone.now()
    with run.writing():
        with run.phase("copy"):
            customer_stage, customers_staged = customers_stage_seen(first_seen)
            order_stage = StagingTable(
                "_imp_orders",
                [
                    ("external_id", "text"),
                    ("customer_ext", "text"),
                    ("placed_at", "timestamptz"),
                    ("status", "text"),
                    ("total_amount", "numeric"),
                    ("currency", "text"),
                    ("channel", "text"),
                    ("stream_id", "bigint"),
                    ("n_lines", "integer"),
                ],
            ).create()
            order_rows = [
                [oid, h[0], h[1], h[2], total, h[5], h[4], h[3], n]
                for oid, (h, total, n, _l) in parsed.orders.items()
            ]
            adapt_datetimes(order_rows, [2])
            orders_staged = order_stage.load(order_rows)
            del order_rows
            item_stage = StagingTable(
                "_imp_order_items",
                [
                    ("order_ext", "text"),
                    ("line_no", "integer"),
                    ("sku", "text"),
                    ("category", "text"),
                    ("quantity", "integer"),
                    ("unit_price", "numeric"),
                    ("amount", "numeric"),
                    ("file_line", "integer"),
                ],
            ).create()
            items_staged = item_stage.load(items)
        with run.phase("upsert"):
            customers = customers_upsert_seen(
                brand=brand, stage=customer_stage, staged=customers_staged, now=now
            )
            order_counts = upsert(
                model=Order,
                brand_id=brand.pk,
                values={
                    "external_id": "s.external_id",
                    "customer_id": "c.id",
                    "placed_at": "s.placed_at",
                    "status": "s.status",
                    "total_amount": "s.total_amount",
                    "currency": "s.currency",
                    "channel": "s.channel",
                    "stream_id": "s.stream_id",
                },
                source=(
                    f"{order_stage.name} s JOIN customers_customer c "
                    "ON c.brand_id = %s AND c.external_id = s.customer_ext"
                ),
                params=[brand.pk],
                conflict=["brand_id", "external_id"],
                update=[
                    "customer_id",
                    "placed_at",
                    "status",
                    "total_amount",
                    "currency",
                    "channel",
                    "stream_id",
                ],
                staged=orders_staged,
                now=now,
            )
            run.count(order_counts)
            item_counts = upsert(
                model=OrderItem,
                brand_id=brand.pk,
                values={
                    "order_id": "o.id",
                    "line_no": "s.line_no",
                    "sku": "s.sku",
                    "category": "s.category",
                    "quantity": "s.quantity",
                    "unit_price": "s.unit_price",
                    "amount": "s.amount",
                },
                source=(
                    f"{item_stage.name} s JOIN orders_order o "
                    "ON o.brand_id = %s AND o.external_id = s.order_ext"
                ),
                params=[brand.pk],
                conflict=["brand_id", "order_id", "line_no"],
                update=["sku", "category", "quantity", "unit_price", "amount"],
                staged=items_staged,
                now=now,
            )
            removed = 0
            if order_counts.created < orders_staged:
                # Orders that existed before may have had more lines than the file gives them now.
                if orders_staged >= ANALYZE_THRESHOLD:
                    analyze(Order._meta.db_table, OrderItem._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"DELETE FROM {OrderItem._meta.db_table} WHERE id IN ("
                        f"SELECT i.id FROM {order_stage.name} s "
                        f"JOIN {Order._meta.db_table} o ON o.brand_id = %s AND o.external_id = s.external_id "
                        f"JOIN {OrderItem._meta.db_table} i ON i.brand_id = %s AND i.order_id = o.id "
                        "WHERE i.line_no > s.n_lines)",
                        [brand.pk, brand.pk],
                    )
                    removed = cursor.rowcount
    run.result.details = {
        _("customers created"): customers.created,
        _("order lines created"): item_counts.created,
        _("order lines updated"): item_counts.updated,
        _("order lines unchanged"): item_counts.unchanged,
        _("order lines removed"): removed,
    }
    return run.finish(parsed.rows_read)
