"""Attribution: a paid order within the brand's attribution window after a touch went out converts that
touch (status converted, with the order, its time and amount). One order converts at most one touch: the
latest one sent before it; one touch is converted by its first order. One UPDATE, set-based."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone

from apps.engagement.models import ContactPolicy, Touch
from apps.orders.models import Order

LOOKBACK = dt.timedelta(days=45)  # orders older than this are not matched again


def touches_attribute(*, brand, now: dt.datetime | None = None, since: dt.datetime | None = None) -> int:
    """Convert the touches of `brand` that a paid order placed after `since` (default: LOOKBACK before now)
    and up to `now` followed within the attribution window. Returns how many touches converted now.
    Idempotent: converted touches and attributed orders are not matched again."""
    now = now or timezone.now()
    since = since or now - LOOKBACK
    hours = ContactPolicy.objects.get_or_create(brand=brand)[0].attribution_hours
    touches, orders = Touch._meta.db_table, Order._meta.db_table
    sql = f"""
        WITH pairs AS (
            SELECT DISTINCT ON (o.id) o.id AS order_id, t.id AS touch_id, o.placed_at, o.total_amount
            FROM {orders} o
            JOIN {touches} t ON t.brand_id = o.brand_id AND t.customer_id = o.customer_id
            WHERE o.brand_id = %(brand)s AND o.status = 'paid' AND o.placed_at > %(since)s
              AND o.placed_at <= %(now)s
              AND t.status IN ('sent', 'delivered', 'clicked') AND t.sent_at < o.placed_at
              AND o.placed_at <= t.sent_at + make_interval(hours => %(hours)s)
              AND NOT EXISTS (SELECT 1 FROM {touches} x WHERE x.brand_id = o.brand_id
                              AND x.converted_order_id = o.id)
            ORDER BY o.id, t.sent_at DESC, t.id DESC
        ), firsts AS (
            SELECT DISTINCT ON (touch_id) touch_id, order_id, placed_at, total_amount
            FROM pairs ORDER BY touch_id, placed_at, order_id
        )
        UPDATE {touches} t SET status = 'converted', converted_order_id = f.order_id,
            converted_at = f.placed_at, converted_amount = f.total_amount, updated_at = %(now)s
        FROM firsts f WHERE t.id = f.touch_id AND t.brand_id = %(brand)s
    """  # noqa: S608 - constant table names
    with connection.cursor() as cursor:
        cursor.execute(sql, {"brand": brand.pk, "since": since, "now": now, "hours": hours})
        return cursor.rowcount
