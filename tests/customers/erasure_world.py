"""A brand's usual files and one person with personal data in every place the product can hold it, for the
erasure tests: the database scan (tests/customers/test_erasure_scan.py) and the re-imports after an erasure
(tests/imports/test_erased_reimports.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace
from urllib.parse import quote, quote_plus

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.management import call_command
from django.db import connection

from apps.analytics import reports
from apps.analytics.snapshots import snapshot_current
from apps.communities.models import CommunityMembership
from apps.customers.models import Customer, ExportJob
from apps.engagement.models import Touch
from apps.engagement.services import channel_opt_out
from apps.loyalty.models import BenefitGrant
from apps.loyalty.services import benefit_grant
from apps.orders.models import Order, OrderItem
from apps.streams.models import StreamView
from tests.factories import (
    BenefitFactory,
    CustomerFactory,
    FollowupRuleFactory,
    clv_percentiles_set,
    make_run,
    make_score,
)

# The person who asks to be erased, as the brand's files and staff know them.
PERSON = {
    "external_id": "dy-0013800x",
    "name": "王小美",
    "phone": "13812345678",
    "email": "wang.xiaomei@example.com",
    "wechat": "wxid_wangxm88",
}
FRIEND_PHONE = "13900001111"  # another customer's phone: must stay

FILES = {
    "streams.csv": (
        "stream_id,started_at,ended_at,title,platform\n"
        "S1,2026-03-01T20:00:00,2026-03-01T22:00:00,Spring launch,抖音\n"
        "S2,2026-03-15T20:00:00,2026-03-15T22:00:00,Encore,抖音\n"
    ),
    "customers.csv": (
        "customer_id,name,phone,email,gender,birth_year,province,city,marketing_consent,first_seen_at\n"
        f"{PERSON['external_id']},{PERSON['name']},{PERSON['phone']},{PERSON['email']},女,1995,浙江,杭州,是,"
        "2026-02-20T10:00:00\n"
        f"dy-0022001,李娜娜,{FRIEND_PHONE},,女,1990,上海,上海,否,2026-02-21T10:00:00\n"
        "dy-0033002,张伟,13700002222,zw@example.com,男,1988,北京,北京,是,2026-02-22T10:00:00\n"
    ),
    "views.csv": (
        "stream_id,customer_id,joined_at,watch_seconds,comments\n"
        f"S1,{PERSON['external_id']},2026-03-01T20:05:00,3600,5\n"
        "S1,dy-0022001,2026-03-01T20:10:00,1200,0\n"
        f"S2,{PERSON['external_id']},2026-03-15T20:02:00,900,1\n"
    ),
    # the brand's usual order file: order ids for most lines, none (derived ids) for the small shop's
    "orders.csv": (
        "order_id,customer_id,ordered_at,amount,quantity,sku,stream_id\n"
        f"O-1001,{PERSON['external_id']},2026-03-01T20:30:00,199.00,1,SKU-A,S1\n"
        f"O-1001,{PERSON['external_id']},2026-03-01T20:30:00,59.50,2,SKU-B,S1\n"
        "O-1002,dy-0022001,2026-03-01T21:00:00,88.00,1,SKU-A,S1\n"
        f"O-1003,{PERSON['external_id']},2026-03-15T20:45:00,120.00,1,SKU-C,S2\n"
        f",{PERSON['external_id']},2026-04-02T10:00:00,35.00,1,SKU-D,\n"
        ",dy-0033002,2026-04-03T11:00:00,42.00,1,SKU-D,\n"
    ),
    "memberships.csv": (
        "community_id,customer_id,joined_at,community_name,community_kind\n"
        f"G1,{PERSON['external_id']},2026-02-01,VIP群,微信群\n"
        "G1,dy-0033002,2026-02-03,VIP群,微信群\n"
    ),
    "redemptions.csv": f"customer_id,benefit,redeemed_at\n{PERSON['external_id']},coupon10,2026-04-10T12:00:00\n",
}
ORDER = ("streams.csv", "customers.csv", "views.csv", "orders.csv", "memberships.csv", "redemptions.csv")
COMMANDS = {
    "streams.csv": "import_streams",
    "customers.csv": "import_customers",
    "views.csv": "import_views",
    "orders.csv": "import_orders",
    "memberships.csv": "import_memberships",
    "redemptions.csv": "import_redemptions",
}
GRANTED = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)


def write_files(tmp_path) -> dict[str, object]:
    paths = {}
    for name, text in FILES.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


def import_file(brand, path, *flags) -> tuple[str, str]:
    """Run the file's import command; (stdout, stderr). Raises CommandError as the command does."""
    out, err = StringIO(), StringIO()
    call_command(COMMANDS[path.name], str(path), "--brand", brand.slug, *flags, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def build_world(brand, tmp_path, manager) -> SimpleNamespace:
    """The brand's files imported (redemptions once the person holds a grant), and staff's traces of the
    person: grant notes (theirs, and a friend's that mentions them), a failed touch whose gateway error
    repeats the phone, an opt-out whose source is their WeChat id, admin history, a customer-list export
    searched by their phone, and a published run whose dashboard snapshot lists them at risk."""
    paths = write_files(tmp_path)
    for name in ORDER[:-1]:
        import_file(brand, paths[name])
    person = Customer.objects.get(brand=brand, external_id=PERSON["external_id"])
    friend = Customer.objects.get(brand=brand, external_id="dy-0022001")
    coupon = BenefitFactory(brand=brand, code="coupon10", name="10 off", validity_days=90)
    note = f"{PERSON['name']} {PERSON['phone']} 微信 {PERSON['wechat']} 要求补偿"
    grant = benefit_grant(
        brand=brand, benefit=coupon, customer_ids=[person.pk], note=note, when=GRANTED, actor=manager
    ).grants[0]
    benefit_grant(
        brand=brand,
        benefit=coupon,
        customer_ids=[friend.pk],
        note=f"朋友 {PERSON['name']} 推荐 ({PERSON['phone']}, {PERSON['email']})",
        when=GRANTED,
        actor=manager,
    )
    import_file(brand, paths["redemptions.csv"])

    rule = FollowupRuleFactory(brand=brand, name="viewers")
    Touch.objects.create(
        brand=brand,
        customer=person,
        rule=rule,
        occasion="stream:S1",
        channel="sms",
        scheduled_at=GRANTED,
        window_ends_at=GRANTED,
        send_hour=20,
        status="failed",
        last_error=f"gateway 400: {PERSON['phone']} unreachable",
    )
    channel_opt_out(brand=brand, customer=person, channel="wechat", source=PERSON["wechat"], actor=manager)

    LogEntry.objects.log_actions(
        user_id=manager.pk,
        queryset=[person],
        action_flag=CHANGE,
        change_message=json.dumps(
            [{"changed": {"fields": ["City"]}}, {"added": {"name": "benefit grant", "object": str(grant)}}]
        ),
    )
    LogEntry.objects.log_actions(
        user_id=manager.pk, queryset=[grant], action_flag=ADDITION, change_message=json.dumps([{"added": {}}])
    )
    ExportJob.objects.create(
        brand=brand, user=manager, filters=f"q={PERSON['phone']}&stage=decline", format="csv", status="done"
    )
    ExportJob.objects.create(
        brand=brand, user=manager, filters=f"q={quote_plus(PERSON['name'])}", format="csv", status="done"
    )

    run = make_run(brand)
    make_score(
        run, person, stage="decline", churn=0.9, clv=Decimal("500.00"), monetary_total=Decimal("413.50")
    )
    make_score(run, friend, stage="growth", churn=0.2, clv=Decimal("80.00"), monetary_total=Decimal("88.00"))
    for i in range(4):  # the person's spend is then in the top 20%: on the dashboard's win-back list
        others = CustomerFactory(brand=brand, external_id=f"walk-in-{i}")
        make_score(run, others, churn=0.3, clv=Decimal("20.00"), monetary_total=Decimal(10 + i))
    clv_percentiles_set(run)
    snapshot_current(brand=brand, run=run)
    return SimpleNamespace(paths=paths, person=person, friend=friend, grant=grant, run=run)


def figures(brand) -> dict:
    """What the brand's reports add up, by customer id (pk) rather than external id."""
    activity = reports.paid_activity(brand=brand)
    return {
        "customers": Customer.objects.filter(brand=brand).count(),
        "orders": sorted(
            Order.objects.filter(brand=brand).values_list(
                "external_id", "customer_id", "total_amount", "status"
            )
        ),
        "lines": OrderItem.objects.filter(brand=brand).count(),
        "views": sorted(
            StreamView.objects.filter(brand=brand).values_list("stream_id", "customer_id", "watch_seconds")
        ),
        "memberships": sorted(
            CommunityMembership.objects.filter(brand=brand).values_list(
                "community_id", "customer_id", "joined_at"
            )
        ),
        "redemptions": sorted(
            BenefitGrant.objects.filter(brand=brand).values_list("customer_id", "redeemed_at", "revoked_at")
        ),
        "first_seen": sorted(Customer.objects.filter(brand=brand).values_list("pk", "first_seen_at")),
        "activity": [asdict(row) for row in (*activity.months, *getattr(activity, "days", ()))],
    }


def forms(value: str) -> set[str]:
    """The ways a value is written in the database: as is, escaped in JSON text, percent-encoded."""
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value, safe="")}


def text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb') "
            "ORDER BY table_name, column_name"
        )
        return cursor.fetchall()


def pii_hits(values: dict[str, str]) -> list[tuple[str, str, str]]:
    """(table, column, what) for every text, varchar, json and jsonb column of every table of the database
    holding one of `values` (what -> value) in any of its forms."""
    hits = []
    columns = text_columns()
    assert len(columns) > 100  # every table of the product, not a handful
    with connection.cursor() as cursor:
        for table, column in columns:
            for what, value in values.items():
                patterns = sorted(forms(value))
                found = " OR ".join(f'strpos("{column}"::text, %s) > 0' for _p in patterns)
                cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE {found})', patterns)  # noqa: S608
                if cursor.fetchone()[0]:
                    hits.append((table, column, what))
    return hits
