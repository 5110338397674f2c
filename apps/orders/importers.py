"""Order import: one CSV row per order line; rows sharing an order_id form one order.

This is the hot path (hundreds of thousands of rows per import), so it works on whole columns: each column
is factorised and every distinct value is checked once with the shared per-value parsers (which word the
errors), while the high-cardinality columns (times, amounts) take a vectorised pandas path for plainly
shaped values and the per-value parsers for everything else. Amounts are integer cents; order totals and
unit prices are integer arithmetic, turned into numerics by PostgreSQL.

Every order is in the brand's currency (`Brand.currency`): a line in another currency is an error, unless
staff give its exchange rate (`rates`, import_orders --rates USD=7.1): then each line's amount is converted
(half up to the cent), the order's total is the sum of its converted lines, and the order keeps its total in
the original currency, that currency and the rate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing import ImportResult, ImportRun, StagingTable
from apps.core.importing import fields as f
from apps.core.importing.errors import FieldError
from apps.core.importing.fields import control_character
from apps.core.importing.frames import Frame, read_frame
from apps.core.importing.sources import map_header
from apps.core.importing.staging import analyze_if_stale, merge
from apps.customers.importers import customers_stage_seen_columns, customers_upsert_seen
from apps.customers.models import Customer
from apps.customers.selectors import ErasedIds
from apps.orders.models import Order, OrderItem, OrderStatus, SalesChannel
from apps.orders.signals import orders_changed
from apps.streams.models import Stream

REQUIRED = ("customer_id", "ordered_at")
# Without an amount column (a purchase log with times only) every order is stored with amount 0, and the
# engine, seeing no amount at all, predicts purchases but leaves revenue, spend and CLV unknown.
OPTIONAL = ("amount", "order_id", "quantity", "category", "sku", "stream_id", "channel", "status", "currency")
STATUS_ALIASES = {"已支付": "paid", "已退款": "refunded", "已取消": "cancelled"}
TWO_PLACES = Decimal("0.01")
# Header of one order: every line of the order must agree on these.
HEADER_COLUMNS = ("customer_id", "ordered_at", "status", "stream_id", "channel", "currency")
# The order in which a line's errors are reported.
REPORT_ORDER = (
    "customer_id",
    "ordered_at",
    "amount",
    "quantity",
    "stream_id",
    "channel",
    "status",
    "currency",
    "sku",
    "category",
    "order_id",
)
# numeric(14, 2): amounts and totals stay below 10^12, i.e. 10^14 cents.
MAX_CENTS = 10**14 - 1
# Exchange rates: numeric(18, 8).
RATE_PLACES = 8
RATE_MAX = Decimal(10) ** 10
_RATE_RE = re.compile(r"^\s*([A-Za-z]{3})\s*=\s*(\S+)\s*$")


def parse_rates(text: str) -> dict[str, Decimal]:
    """`USD=7.1,JPY=0.047` -> {"USD": Decimal("7.1"), "JPY": Decimal("0.047")}: units of the brand's currency
    per unit of each currency. ValueError (a translated reason) when a part is not CODE=RATE with a positive
    rate of at most 8 decimals, or a code is given twice."""
    rates: dict[str, Decimal] = {}
    shape = _(
        "give CODE=RATE pairs separated by commas, each rate a positive number of at most %(places)d decimals "
        "(units of the brand's currency per unit), e.g. USD=7.1,JPY=0.047"
    ) % {"places": RATE_PLACES}
    for part in text.split(","):
        match = _RATE_RE.match(part)
        if match is None:
            raise ValueError(shape)
        code, raw = match.group(1).upper(), match.group(2)
        try:
            rate = Decimal(raw)
        except InvalidOperation:
            raise ValueError(shape) from None
        if not rate.is_finite() or rate <= 0 or rate >= RATE_MAX or rate.as_tuple().exponent < -RATE_PLACES:
            raise ValueError(shape)
        if code in rates:
            raise ValueError(_("%(currency)s is given twice") % {"currency": code})
        rates[code] = rate
    return rates


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NO_STREAM = -1
# Strictly shaped values that pandas parses exactly as the per-value parsers do; anything else (and anything
# pandas refuses) goes through the per-value parsers, which also word the errors.
_AMOUNT_RE = r"[0-9]{1,12}(?:\.[0-9]{0,2})?|\.[0-9]{1,2}"
_DATETIME_FORMATS = {
    8: ("%Y%m%d", r"[0-9]{8}"),
    10: ("%Y-%m-%d", r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    16: ("%Y-%m-%d %H:%M", r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}"),
    19: ("%Y-%m-%d %H:%M:%S", r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"),
}


class _Bad:
    """A per-value parse failure: the message to report."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def _by_value(series: pd.Series, parse) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply `parse` once per distinct value. Returns the per-row results (an object array) and, when some
    value is invalid, the per-row error message (None for valid rows)."""
    codes, uniques = pd.factorize(series)
    results = np.empty(len(uniques), dtype=object)
    results[:] = [parse(value) for value in uniques]
    bad = [i for i, value in enumerate(results) if isinstance(value, _Bad)]
    if not bad:
        return results[codes], None
    messages = np.full(len(uniques), None, dtype=object)
    messages[bad] = [results[i].message for i in bad]
    return results[codes], messages[codes]


def _checked(parse, required: str | None = None, empty=None):
    """Wrap a per-value parser: strip, handle empty values, turn FieldError into _Bad."""

    def check(raw: str):
        raw = raw.strip()
        if not raw:
            return _Bad(required) if required else empty
        try:
            return parse(raw)
        except FieldError as exc:
            return _Bad(str(exc))

    return check


class _Parsed:
    """The valid, consistent order lines as columns (file order), and what was dropped."""

    def __init__(self, rows_read: int):
        self.rows_read = rows_read
        self.n = 0
        self.columns: dict[str, np.ndarray] = {}
        self.dropped_lines = np.empty(0, dtype=np.int64)


def _datetimes_us(series: pd.Series, parse_dt: f.DateTimeParser, required: str) -> tuple[np.ndarray, list]:
    """UTC microseconds since the epoch per row, and a per-row error message (None when valid)."""
    codes, uniques = pd.factorize(series)
    raw = pd.Series(uniques, dtype=object)
    us = np.zeros(len(raw), dtype=np.int64)
    done = np.zeros(len(raw), dtype=bool)
    lengths = raw.str.len().to_numpy()
    for length, (fmt, pattern) in _DATETIME_FORMATS.items():
        candidates = np.flatnonzero(lengths == length)
        if not len(candidates):
            continue
        values = raw.iloc[candidates]
        shaped = values.str.fullmatch(pattern).to_numpy(dtype=bool)
        candidates, values = candidates[shaped], values[shaped]
        if length > 10:
            values = values.str.slice_replace(10, 11, " ")
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        # Wall-clock time in the brand's zone; ambiguous or skipped times go through the per-value parser.
        local = parsed.dt.tz_localize(parse_dt.tz, ambiguous="NaT", nonexistent="NaT")
        ok = local.notna().to_numpy()
        utc = local[ok].dt.tz_convert("UTC").dt.as_unit("us").dt.tz_localize(None)
        us[candidates[ok]] = utc.to_numpy().view(np.int64)
        done[candidates[ok]] = True
    messages: list = [None] * len(raw)
    # The plausible range, which the per-value parser checks itself.
    dates = parse_dt.dates
    for i in np.flatnonzero(done & (us < (dates.earliest - _EPOCH) // _MICROSECOND)):
        messages[i] = dates.too_early
    for i in np.flatnonzero(done & (us > (dates.latest - _EPOCH) // _MICROSECOND)):
        messages[i] = dates.too_late
    for i in np.flatnonzero(~done):
        value = _checked(parse_dt, required)(raw.iloc[i])
        if isinstance(value, _Bad):
            messages[i] = value.message
        else:
            us[i] = (value - _EPOCH) // _MICROSECOND
    row_messages = np.asarray(messages, dtype=object)[codes] if len(raw) else np.empty(0, dtype=object)
    return us[codes], row_messages


def _amount_cents(series: pd.Series, parse_amount: f.DecimalParser, required: str):
    """Line amounts as integer cents per row, per-row error messages, and the Decimal of values that did
    not have the plain shape (needed to reproduce derived order ids exactly)."""
    codes, uniques = pd.factorize(series)
    raw = pd.Series(uniques, dtype=object)
    cents = np.zeros(len(raw), dtype=np.int64)
    shaped = raw.str.fullmatch(_AMOUNT_RE).to_numpy(dtype=bool)
    if shaped.any():
        numbers = pd.to_numeric(raw[shaped]).to_numpy(dtype=np.float64)
        cents[shaped] = np.rint(numbers * 100).astype(np.int64)  # <= 14 digits: exact in a double
    messages: list = [None] * len(raw)
    decimals: dict[int, Decimal] = {}
    for i in np.flatnonzero(~shaped):
        value = _checked(parse_amount, required)(raw.iloc[i])
        if isinstance(value, _Bad):
            messages[i] = value.message
        else:
            cents[i] = int(value.scaleb(2))
            decimals[i] = value
    row_messages = np.asarray(messages, dtype=object)[codes] if len(raw) else np.empty(0, dtype=object)
    return cents[codes], row_messages, codes, decimals


def _parse(
    frame: Frame,
    index: dict[str, int],
    brand: Brand,
    streams: dict[str, int],
    log,
    rates: Mapping[str, Decimal],
    erased: ErasedIds | None = None,
) -> _Parsed:
    n = len(frame)
    out = _Parsed(n)
    lines = frame.lines
    empty = pd.Series([""] * n, dtype=object)

    def column(name: str) -> pd.Series:
        position = index.get(name)
        return frame.columns[position] if position is not None else empty

    required = _("a value is required")
    errors: list[tuple[str, np.ndarray]] = []  # (column, per-row message or None), in report order

    def text_column(name: str, max_length: int, required_message: str | None = None) -> np.ndarray:
        too_long = _("longer than %(max)d characters") % {"max": max_length}

        def check(raw: str):
            value = raw.strip()
            if len(value) > max_length:
                return _Bad(too_long)
            if not value and required_message:
                return _Bad(required_message)
            return value

        return _by_value(column(name), check)

    def split(name: str, checked: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
        values, messages = checked
        if messages is None:
            return np.zeros(n, dtype=bool)
        errors.append((name, messages))
        return messages != None  # noqa: E711 (elementwise)

    for i in np.flatnonzero(frame.overflow):
        log.add(int(lines[i]), "*", _("more values than header columns"))

    # A value holding a control character (a NUL byte, say) is reported for that alone.
    controls: dict[str, np.ndarray] = {}
    if not frame.clean:
        for name in index:
            codes, uniques = pd.factorize(column(name))
            found = np.asarray([control_character(value) for value in uniques], dtype=object)
            if len(found) and (found != None).any():  # noqa: E711 (elementwise)
                controls[name] = found[codes]
    bad_control = np.zeros(n, dtype=bool)
    for found in controls.values():
        bad_control |= found != None  # noqa: E711 (elementwise)

    customers = text_column("customer_id", 128, required)
    if erased is not None and erased.refuse:
        customers = _refuse_erased(customers, erased)
    bad_customer = split("customer_id", customers)
    customers = customers[0]
    parse_dt = f.DateTimeParser(brand.tzinfo)
    placed_us, placed_messages = _datetimes_us(column("ordered_at"), parse_dt, required)
    bad_placed = placed_messages != None  # noqa: E711 (elementwise)
    if bad_placed.any():
        errors.append(("ordered_at", placed_messages))
    parse_amount = f.DecimalParser(places=2, max_digits=14)
    if "amount" in index:
        amounts = column("amount")
    else:
        amounts = pd.Series(["0"] * n, dtype=object)
        log.warn(
            1,
            "amount",
            _(
                "no amount column: the orders are stored with amount 0; purchases are predicted, but "
                "revenue, spend and CLV are left unknown"
            ),
        )
    cents, amount_messages, amount_codes, amount_decimals = _amount_cents(amounts, parse_amount, required)
    bad_amount = amount_messages != None  # noqa: E711
    if bad_amount.any():
        errors.append(("amount", amount_messages))
    quantities = _by_value(column("quantity"), _checked(f.IntParser(1, 2_147_483_647), empty=1))
    bad_quantity = split("quantity", quantities)
    quantities = quantities[0]

    unknown_stream = _("unknown live stream")

    def stream(raw: str):
        raw = raw.strip()
        if not raw:
            return _NO_STREAM
        stream_id = streams.get(raw)
        return _Bad(unknown_stream) if stream_id is None else stream_id

    stream_ids = _by_value(column("stream_id"), stream)
    bad_stream = split("stream_id", stream_ids)
    stream_ids = stream_ids[0]
    channels = _by_value(column("channel"), _checked(f.ChoiceParser(SalesChannel.values)))
    bad_channel = split("channel", channels)
    channels = channels[0]
    statuses = _by_value(
        column("status"),
        _checked(f.ChoiceParser(OrderStatus.values, STATUS_ALIASES), empty=OrderStatus.PAID.value),
    )
    bad_status = split("status", statuses)
    statuses = statuses[0]
    parse_currency = _checked(f.currency(), empty=brand.currency)
    foreign = _("%(currency)s is not the brand's currency (%(brand)s) and no exchange rate was given for it")

    def currency(raw: str):
        value = parse_currency(raw)
        if isinstance(value, _Bad) or value == brand.currency or value in rates:
            return value
        return _Bad(foreign % {"currency": value, "brand": brand.currency})

    currencies = _by_value(column("currency"), currency)
    bad_currency = split("currency", currencies)
    currencies = currencies[0]
    # Lines in another currency: converted at the staff's rate, half up to the cent.
    original_cents = cents.copy()
    converted = np.flatnonzero(~bad_currency & ~bad_amount)
    converted = converted[currencies[converted] != brand.currency]
    if len(converted):
        too_large = _("too large once converted into %(currency)s") % {"currency": brand.currency}
        convert_messages = np.full(n, None, dtype=object)
        for code in sorted(set(currencies[converted])):
            rows = converted[currencies[converted] == code]
            num, den = rates[code].as_integer_ratio()
            for i in rows:
                value = (2 * int(cents[i]) * num + den) // (2 * den)
                if value > MAX_CENTS:
                    convert_messages[i] = too_large
                else:
                    cents[i] = value
        bad_converted = convert_messages != None  # noqa: E711 (elementwise)
        if bad_converted.any():
            amount_messages = np.where(bad_converted, convert_messages, amount_messages)
            errors[:] = [(c, m) for c, m in errors if c != "amount"] + [("amount", amount_messages)]
            bad_amount = bad_amount | bad_converted
    skus = text_column("sku", 128)
    bad_sku = split("sku", skus)
    skus = skus[0]
    categories = text_column("category", 100)
    bad_category = split("category", categories)
    categories = categories[0]
    order_ids = text_column("order_id", 128)
    bad_order_id = split("order_id", order_ids)
    order_ids = order_ids[0]

    # Column by column; the log is sorted by line (stably), so each line keeps the column order.
    reported = dict(errors)
    for name, found in controls.items():
        messages = reported.get(name)
        reported[name] = found if messages is None else np.where(found != None, found, messages)  # noqa: E711
    for name in REPORT_ORDER:
        messages = reported.get(name)
        if messages is None:
            continue
        for i in np.flatnonzero((messages != None) & ~frame.overflow):  # noqa: E711
            log.add(int(lines[i]), name, messages[i])
    if "order_id" in controls:
        bad_order_id = bad_order_id | (controls["order_id"] != None)  # noqa: E711 (elementwise)
    bad_row = (
        frame.overflow
        | bad_control
        | bad_customer
        | bad_placed
        | bad_amount
        | bad_quantity
        | bad_stream
        | bad_channel
        | bad_status
        | bad_currency
        | bad_sku
        | bad_category
        | bad_order_id
    )
    # Orders with an invalid line are dropped whole (the line's own order id, as given).
    bad_orders = {oid for oid in order_ids[bad_row & ~bad_order_id & ~frame.overflow] if oid}

    ok = np.flatnonzero(~bad_row)
    oid = order_ids[ok]
    cust = customers[ok]
    placed = placed_us[ok]
    amount = cents[ok]
    original = original_cents[ok]
    quantity = quantities[ok].astype(np.int64)
    stream_id = stream_ids[ok].astype(np.int64)
    status = statuses[ok]
    currency = currencies[ok]
    channel = channels[ok]
    no_channel = pd.isna(channel)
    if no_channel.any():
        live, other = SalesChannel.LIVE_STREAM.value, SalesChannel.OTHER.value
        channel = channel.copy()
        channel[no_channel] = np.where(stream_id[no_channel] != _NO_STREAM, live, other)
    sku, category = skus[ok], categories[ok]

    # No order id: derive a stable one from the row's content and its occurrence number, so a re-import
    # finds the same orders and two identical rows stay two orders.
    missing = np.flatnonzero(oid == "")
    if len(missing):
        stream_external = {pk: external_id for external_id, pk in streams.items()}
        stream_external[_NO_STREAM] = ""
        oid = oid.copy()
        occurrences: dict[str, int] = {}
        codes_ok = amount_codes[ok]
        for i in missing:
            decimal = amount_decimals.get(int(codes_ok[i]))
            if decimal is not None:
                amount_text = str(decimal.quantize(TWO_PLACES))
            else:
                amount_text = f"{original[i] // 100}.{original[i] % 100:02d}"  # as given, not converted
            content = "\x1f".join(
                (
                    cust[i],
                    (_EPOCH + int(placed[i]) * _MICROSECOND).isoformat(),
                    amount_text,
                    str(quantity[i]),
                    category[i],
                    sku[i],
                    stream_external[int(stream_id[i])],
                    channel[i],
                    status[i],
                    currency[i],
                )
            )
            count = occurrences.get(content, 0) + 1
            occurrences[content] = count
            digest = hashlib.blake2b(f"{content}\x1e{count}".encode(), digest_size=12).hexdigest()
            oid[i] = "auto-" + digest

    # Every line of an order must agree with the order's first valid line on the header columns.
    order_codes, _uniques = pd.factorize(oid)
    _u, first_index = np.unique(order_codes, return_index=True)
    first = first_index[order_codes]
    header = {
        "customer_id": cust,
        "ordered_at": placed,
        "status": status,
        "stream_id": stream_id,
        "channel": channel,
        "currency": currency,
    }
    differs_rows = np.zeros(len(ok), dtype=bool)
    differs_by_column = {}
    for name in HEADER_COLUMNS:
        values = header[name]
        differs = values != values[first]
        differs_by_column[name] = differs
        differs_rows |= differs
    if differs_rows.any():
        differs = _("differs from line %(line)d of the same order")
        for i in np.flatnonzero(differs_rows):
            for name in HEADER_COLUMNS:
                if differs_by_column[name][i]:
                    log.add(int(lines[ok[i]]), name, differs % {"line": int(lines[ok[first[i]]])})
        bad_orders.update(oid[differs_rows])
    keep = ~differs_rows
    # An order's total (the sum of its lines) must fit the amount column: sums of exact integers in doubles,
    # exact below 2^53 cents and far above the limit beyond.
    totals = np.bincount(order_codes[keep], weights=amount[keep].astype(np.float64))
    too_big = np.flatnonzero(totals > MAX_CENTS)
    error_rows = np.zeros(len(ok), dtype=bool)
    if len(too_big):
        message = _("the order's total (the sum of its lines) is too large")
        for code in too_big:
            head = np.flatnonzero(keep & (order_codes == code))[0]
            log.add(int(lines[ok[head]]), "amount", message)
            error_rows[head] = True
            bad_orders.add(oid[head])
    if bad_orders:
        dropped = keep & pd.Series(oid).isin(bad_orders).to_numpy()
        out.dropped_lines = lines[ok[dropped & ~error_rows]]
        keep &= ~dropped

    order_codes = order_codes[keep]
    line_no = pd.Series(order_codes).groupby(order_codes).cumcount().to_numpy() + 1
    # Unit price to 4 places, half up: integer arithmetic on cents (exact).
    amount, quantity = amount[keep], quantity[keep]
    unit_e4 = (amount * 200 + quantity) // (2 * quantity)
    currency = currency[keep]
    foreign = currency != brand.currency
    rate = np.full(len(currency), None, dtype=object)
    if foreign.any():
        rate[foreign] = [rates[code] for code in currency[foreign]]
    out.n = int(keep.sum())
    out.columns = {
        "order_ext": oid[keep],
        "order_code": order_codes,
        "line_no": line_no,
        "customer_ext": cust[keep],
        "placed_us": placed[keep],
        "status": status[keep],
        "currency": np.where(foreign, brand.currency, currency),
        "original_currency": np.where(foreign, currency, ""),
        "rate": rate,
        "original_cents": original[keep],
        "channel": channel[keep],
        "stream_id": stream_id[keep],
        "sku": sku[keep],
        "category": category[keep],
        "quantity": quantity,
        "unit_e4": unit_e4,
        "cents": amount,
    }
    return out


def _refuse_erased(checked: tuple[np.ndarray, np.ndarray | None], erased: ErasedIds):
    """The customer column's values and messages, with the brand's refusal on rows of erased customers."""
    values, messages = checked
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    refused = np.fromiter(
        (isinstance(u, str) and bool(u) and erased.target(u) is not None for u in uniques),
        dtype=bool,
        count=len(uniques),
    )
    rows = refused[codes] if len(codes) else np.zeros(0, dtype=bool)
    if not rows.any():
        return checked
    messages = np.full(len(values), None, dtype=object) if messages is None else messages.copy()
    messages[rows & (messages == None)] = erased.reason  # noqa: E711 (elementwise)
    return values, messages


def _keep_erased_anonymous(parsed: _Parsed, erased: ErasedIds) -> None:
    """Lines of erased customers (by the old id or the token) go to the erased customer: its token replaces
    the id, after order ids were derived from the line as given (so a re-import finds the same orders)."""
    customers = parsed.columns.get("customer_ext")
    if customers is None or not len(customers):
        return
    codes, uniques = pd.factorize(customers)
    targets = [erased.target(u) for u in uniques]
    if all(t is None for t in targets):
        return
    hit = np.asarray([t is not None for t in targets], dtype=bool)[codes]
    mapped = np.asarray([u if t is None else t for u, t in zip(uniques, targets, strict=True)], dtype=object)
    parsed.columns["customer_ext"] = mapped[codes]
    erased.kept += int(hit.sum())


# An order whose stored customer was erased stays with that customer, whatever customer_id a later file gives
# it (an erasure from before tombstones existed left the old id free: re-imported orders would otherwise move
# to a new customer of that id).
_STORED_CUSTOMER_ERASED = (
    f"EXISTS (SELECT 1 FROM {Customer._meta.db_table} e "
    "WHERE e.id = t.customer_id AND e.erased_at IS NOT NULL)"
)


def _timestamps(us: np.ndarray) -> list:
    """Staging form of UTC microsecond timestamps: ISO text with an offset, as COPY takes it."""
    return list(np.datetime_as_string(us.astype("datetime64[us]"), unit="us", timezone="UTC"))


def _order_frames(parsed: _Parsed) -> tuple[list, list, list]:
    """Columns for the order, order line and seen-customer staging tables."""
    c = parsed.columns
    codes = c["order_code"]
    _u, heads = np.unique(codes, return_index=True)  # first line of each order, in file order
    grouped = pd.Series(c["cents"]).groupby(codes, sort=True)
    if len(codes) and int(c["cents"].max()) * int(np.bincount(codes).max()) >= 2**62:
        totals = grouped.apply(lambda s: sum(int(v) for v in s)).to_numpy(dtype=object)  # no overflow
    else:
        totals = grouped.sum().to_numpy()
    n_lines = grouped.size().to_numpy()
    placed = c["placed_us"][heads]
    stream_id = c["stream_id"][heads]
    original_currency = c["original_currency"][heads]
    if (original_currency != "").any():
        original_totals = pd.Series(c["original_cents"]).groupby(codes, sort=True).sum().to_numpy()
        original_totals = [
            int(t) if o else None for t, o in zip(original_totals, original_currency, strict=True)
        ]
    else:
        original_totals = [None] * len(heads)
    orders = [
        c["order_ext"][heads].tolist(),
        c["customer_ext"][heads].tolist(),
        _timestamps(placed),
        c["status"][heads].tolist(),
        [int(v) for v in totals],
        c["currency"][heads].tolist(),
        c["channel"][heads].tolist(),
        [None if v == _NO_STREAM else int(v) for v in stream_id],
        n_lines.tolist(),
        original_currency.tolist(),
        original_totals,
        c["rate"][heads].tolist(),
    ]
    items = [
        c["order_ext"].tolist(),
        c["line_no"].tolist(),
        c["sku"].tolist(),
        c["category"].tolist(),
        c["quantity"].tolist(),
        c["unit_e4"].tolist(),
        c["cents"].tolist(),
    ]
    # Customers: the earliest order time per customer.
    seen = (
        pd.DataFrame({"customer": orders[1], "placed": placed})
        .groupby("customer", sort=False)["placed"]
        .min()
    )
    customers = [seen.index.tolist(), _timestamps(seen.to_numpy())]
    return orders, items, customers


def orders_import(
    *,
    brand: Brand,
    path=None,
    rows: Iterable[Mapping[str, object]] | None = None,
    name: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: bool = False,
    encoding: str | None = None,
    rates: Mapping[str, Decimal] | None = None,
) -> ImportResult:
    """Create or update orders and their lines from a CSV file (`path`) or dict rows; create customers the
    brand does not know yet. See the import_orders command for the columns. `rates` (currency code -> units
    of the brand's currency per unit, see parse_rates) converts lines in those currencies; a line in any
    other currency than the brand's is an error."""
    rates = {
        code.upper(): Decimal(rate) for code, rate in (rates or {}).items() if code.upper() != brand.currency
    }
    run = ImportRun(
        entity=_("Orders"),
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
    index = map_header(run.table, required=REQUIRED, optional=OPTIONAL, log=run.log)
    if run.log.errors:
        return run.finish(0)
    streams = dict(Stream.objects.filter(brand=brand).values_list("external_id", "id"))
    erased = ErasedIds(brand)
    with run.phase("parse"):
        frame = read_frame(run.table)
        parsed = _parse(frame, index, brand, streams, run.log, rates, erased)
        del frame
        if not erased.refuse:
            _keep_erased_anonymous(parsed, erased)
        dropped_message = _("skipped with the rest of its order: another line of the order is invalid")
        for line in parsed.dropped_lines.tolist():
            run.drop_line(line)
            if skip_invalid:
                run.log.warn(line, "order_id", dropped_message)
    parsed_rows = parsed.rows_read
    if not run.may_write:
        return run.finish(parsed_rows)

    now = timezone.now()
    with run.writing():
        with run.phase("copy"):
            order_columns, item_columns, customer_columns = _order_frames(parsed)
            del parsed
            customer_stage, customers_staged = customers_stage_seen_columns(*customer_columns)
            order_stage = StagingTable(
                "_imp_orders",
                [
                    ("external_id", "text"),
                    ("customer_ext", "text"),
                    ("placed_at", "timestamptz"),
                    ("status", "text"),
                    ("total_cents", "bigint"),
                    ("currency", "text"),
                    ("channel", "text"),
                    ("stream_id", "bigint"),
                    ("n_lines", "integer"),
                    ("original_currency", "text"),
                    ("original_cents", "bigint"),
                    ("exchange_rate", "numeric"),
                ],
            ).create()
            orders_staged = order_stage.load_columns(order_columns)
            item_stage = StagingTable(
                "_imp_order_items",
                [
                    ("order_ext", "text"),
                    ("line_no", "integer"),
                    ("sku", "text"),
                    ("category", "text"),
                    ("quantity", "integer"),
                    ("unit_price_e4", "bigint"),
                    ("amount_cents", "bigint"),
                ],
            ).create()
            items_staged = item_stage.load_columns(item_columns)
            del order_columns, item_columns, customer_columns
        with run.phase("upsert"):
            customers = customers_upsert_seen(
                brand=brand, stage=customer_stage, staged=customers_staged, now=now
            )
            analyze_if_stale(Customer._meta.db_table, customers.created)
            order_values = {
                "external_id": "s.external_id",
                "customer_id": "c.id",
                "placed_at": "s.placed_at",
                "status": "s.status",
                "total_amount": "s.total_cents / 100.0",
                "currency": "s.currency",
                "channel": "s.channel",
                "stream_id": "s.stream_id",
                "original_currency": "s.original_currency",
                "original_amount": "s.original_cents / 100.0",
                "exchange_rate": "s.exchange_rate",
            }
            order_update = [column for column in order_values if column != "external_id"]
            order_counts = merge(
                model=Order,
                brand_id=brand.pk,
                source=(
                    f"{order_stage.name} s JOIN {Customer._meta.db_table} c "
                    "ON c.brand_id = %s AND c.external_id = s.customer_ext"
                ),
                params=[brand.pk],
                key={"external_id": "s.external_id"},
                values=order_values,
                update=order_update,
                set_exprs={
                    "customer_id": f"CASE WHEN {_STORED_CUSTOMER_ERASED} THEN t.customer_id ELSE c.id END"
                },
                # the erased-customer test runs only for an order whose customer differs (rare)
                changed=" OR ".join(
                    f"(t.customer_id IS DISTINCT FROM c.id AND NOT {_STORED_CUSTOMER_ERASED})"
                    if column == "customer_id"
                    else f"t.{column} IS DISTINCT FROM ({order_values[column]})"
                    for column in order_update
                ),
                staged=orders_staged,
                now=now,
            )
            run.count(order_counts)
            analyze_if_stale(Order._meta.db_table, order_counts.created)
            # Lines of orders created just now cannot exist yet: a plain insert, no update pass.
            all_new = order_counts.created == orders_staged
            item_counts = merge(
                model=OrderItem,
                brand_id=brand.pk,
                source=(
                    f"{item_stage.name} s JOIN {Order._meta.db_table} o "
                    "ON o.brand_id = %s AND o.external_id = s.order_ext"
                ),
                params=[brand.pk],
                key={"order_id": "o.id", "line_no": "s.line_no"},
                values={
                    "order_id": "o.id",
                    "line_no": "s.line_no",
                    "sku": "s.sku",
                    "category": "s.category",
                    "quantity": "s.quantity",
                    "unit_price": "s.unit_price_e4 / 10000.0",
                    "amount": "s.amount_cents / 100.0",
                },
                update=["sku", "category", "quantity", "unit_price", "amount"],
                staged=items_staged,
                now=now,
                all_new=all_new,
            )
            removed = 0
            if not all_new:
                # Orders that existed before may have had more lines than the file gives them now.
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
            if order_counts.created or order_counts.updated:
                # in place: what a reader's data version (the newest order id) cannot see by itself
                in_place = bool(order_counts.updated or item_counts.updated or removed or customers.updated)
                orders_changed.send(sender=Order, brand=brand, in_place=in_place)
    run.result.details = {
        _("customers created"): customers.created,
        _("order lines created"): item_counts.created,
        _("order lines updated"): item_counts.updated,
        _("order lines unchanged"): item_counts.unchanged,
        _("order lines removed"): removed,
    }
    if erased.kept:
        run.result.details[_("rows of erased customers, kept anonymous")] = erased.kept
    return run.finish(parsed_rows)
