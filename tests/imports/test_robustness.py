"""The import robustness issue, one failure at a time: every fault is `file:line column: reason`, never a
traceback, and nothing is written."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.loyalty.models import BenefitGrant
from apps.orders.importers import orders_import
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView
from tests.factories import CustomerFactory, StreamFactory

pytestmark = pytest.mark.django_db

FIRST_SEEN = datetime(2026, 1, 2, tzinfo=UTC)
TOO_EARLY = "must not be before 2000-01-01"
TOO_LATE = "must not be more than 1 day in the future"
NUL = "contains a control character (U+0000)"
NOT_UTF8 = "save the file as UTF-8 CSV, or name its encoding with --encoding"


@pytest.fixture
def world(brand):
    """A stream and a customer the files refer to."""
    StreamFactory(brand=brand, external_id="S1", started_at=datetime(2026, 1, 1, tzinfo=UTC))
    CustomerFactory(brand=brand, external_id="C1", first_seen_at=FIRST_SEEN)
    return brand


def snapshot(brand) -> dict:
    """What an import may write, for 'nothing was written'."""
    return {
        "customers": list(Customer.objects.filter(brand=brand).values_list("external_id", "first_seen_at")),
        "streams": Stream.objects.filter(brand=brand).count(),
        "views": StreamView.objects.filter(brand=brand).count(),
        "orders": Order.objects.filter(brand=brand).count(),
        "items": OrderItem.objects.filter(brand=brand).count(),
        "communities": Community.objects.filter(brand=brand).count(),
        "memberships": CommunityMembership.objects.filter(brand=brand).count(),
        "redeemed": BenefitGrant.objects.filter(brand=brand, redeemed_at__isnull=False).count(),
    }


# command -> (file, header, row, column of the row's value under test)
ROWS = {
    "import_customers": ("customers.csv", "customer_id,city,first_seen_at", "C9,Hang{x}zhou,{d}", "city"),
    "import_streams": ("streams.csv", "stream_id,title,started_at", "S9,Sale{x},{d}", "title"),
    "import_views": ("views.csv", "stream_id,customer_id,joined_at", "S1,C9{x},{d}", "customer_id"),
    "import_orders": (
        "orders.csv",
        "order_id,customer_id,amount,sku,ordered_at",
        "O9,C9,10,SKU{x},{d}",
        "sku",
    ),
    "import_memberships": (
        "members.csv",
        "community_id,customer_id,community_name,joined_at",
        "G1,C9,Fans{x},{d}",
        "community_name",
    ),
    "import_redemptions": ("redeem.csv", "customer_id,benefit,redeemed_at", "C1,GIFT{x},{d}", "benefit"),
}
DATE_COLUMN = {
    "import_customers": "first_seen_at",
    "import_streams": "started_at",
    "import_views": "joined_at",
    "import_orders": "ordered_at",
    "import_memberships": "joined_at",
    "import_redemptions": "redeemed_at",
}


def one_row(command: str, x: str = "", d: str = "2026-01-05") -> tuple[str, str]:
    name, header, row, _column = ROWS[command]
    return name, f"{header}\n{row.format(x=x, d=d)}\n"


@pytest.mark.parametrize("command", list(ROWS))
def test_a_nul_byte_in_a_field_is_an_error_on_its_line_in_every_importer(
    command, world, write_csv, run_command
):
    name, text = one_row(command, x="\x00")
    before = snapshot(world)
    result = run_command(command, write_csv(name, text), world)
    assert result.failed
    assert result.err_lines == [f"{name}:2 {ROWS[command][3]}: {NUL}"]
    assert snapshot(world) == before


@pytest.mark.parametrize("command", list(ROWS))
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0001-01-01", TOO_EARLY),  # year 0 in UTC: an OverflowError before
        ("9999-12-31T23:00:00-05:00", TOO_LATE),  # year 10000 in UTC
        ("1900-01-01", TOO_EARLY),
        ("2099-06-01 10:00", TOO_LATE),
    ],
)
def test_implausible_dates_are_errors_in_every_importer(
    command, value, reason, world, write_csv, run_command
):
    name, text = one_row(command, d=value)
    before = snapshot(world)
    result = run_command(command, write_csv(name, text), world)
    assert result.failed
    assert result.err_lines == [f"{name}:2 {DATE_COLUMN[command]}: {reason}"]
    assert snapshot(world) == before


def test_a_1900_order_no_longer_moves_first_seen_and_a_corrected_file_repairs_an_old_one(
    world, write_csv, run_command
):
    # Given a customer whose first_seen_at an earlier import moved to 1899
    Customer.objects.filter(external_id="C1").update(first_seen_at=datetime(1899, 12, 31, 16, tzinfo=UTC))
    header = "order_id,customer_id,ordered_at,amount\n"
    bad = run_command("import_orders", write_csv("orders.csv", header + "O1,C1,1900-01-01,10\n"), world)
    assert bad.err_lines == [f"orders.csv:2 ordered_at: {TOO_EARLY}"]
    # When the corrected file is imported
    good = run_command("import_orders", write_csv("orders.csv", header + "O1,C1,2026-01-05,10\n"), world)
    # Then the implausible first_seen_at is replaced by the file's earliest time
    assert not good.failed, good.err
    assert Customer.objects.get(external_id="C1").first_seen_at == datetime(2026, 1, 4, 16, tzinfo=UTC)


def test_the_date_range_comes_from_settings(world, write_csv, run_command, settings):
    settings.CLV_IMPORT_EARLIEST_DATE = "1990-01-01"
    header = "order_id,customer_id,ordered_at,amount\n"
    result = run_command(
        "import_orders", write_csv("orders.csv", header + "O1,C2,1995-03-01,10\nO2,C2,1989-12-31,10\n"), world
    )
    assert result.err_lines == ["orders.csv:3 ordered_at: must not be before 1990-01-01"]
    settings.CLV_IMPORT_MAX_FUTURE_DAYS = 40_000
    result = run_command("import_orders", write_csv("orders.csv", header + "O3,C2,2099-06-01,10\n"), world)
    assert not result.failed, result.err


# Encodings


def test_big5_file_is_refused_not_garbled(world, tmp_path, run_command):
    path = tmp_path / "streams.csv"
    path.write_bytes("stream_id,started_at,title\nS9,2026-01-05,護膚品\n".encode("big5"))
    result = run_command("import_streams", path, world)
    assert result.failed
    assert result.err_lines == [
        "streams.csv:2 *: read as GB18030/GBK this line has rare characters, as text in another encoding "
        f"(Big5, Latin-1) would; {NOT_UTF8}"
    ]
    assert not Stream.objects.filter(external_id="S9").exists()
    # With the encoding named, the file is read as it is
    named = run_command("import_streams", path, world, "--encoding", "big5")
    assert not named.failed, named.err
    assert Stream.objects.get(external_id="S9").title == "護膚品"


def test_latin1_file_is_refused_not_garbled(world, tmp_path, run_command):
    path = tmp_path / "orders.csv"
    path.write_bytes(
        "order_id,customer_id,ordered_at,amount,sku\nO1,C1,2026-01-05,10,crème brûlée\n".encode("latin-1")
    )
    result = run_command("import_orders", path, world)
    assert result.err_lines == [
        "orders.csv:2 *: read as GB18030/GBK this line has rare characters, as text in another encoding "
        f"(Big5, Latin-1) would; {NOT_UTF8}"
    ]
    assert not Order.objects.exists()
    named = run_command("import_orders", path, world, "--encoding", "latin-1")
    assert not named.failed, named.err
    assert OrderItem.objects.get().sku == "crème brûlée"


def test_a_file_mixing_utf8_and_gbk_lines_is_refused_naming_the_first_bad_line(world, tmp_path, run_command):
    path = tmp_path / "customers.csv"
    path.write_bytes(
        "customer_id,city\nC7,杭州\n".encode() + "C8,上海\n".encode("gbk") + "C9,北京\n".encode()
    )
    result = run_command("import_customers", path, world)
    assert result.err_lines == [
        "customers.csv:3 *: not UTF-8, though line 2 is: the file mixes encodings; save it again as UTF-8 CSV"
    ]
    assert Customer.objects.count() == 1


def test_a_gbk_file_with_a_utf8_bom_is_refused(world, tmp_path, run_command):
    # Given a GBK file that a tool prefixed with a UTF-8 byte-order mark
    path = tmp_path / "orders.csv"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + "order_id,customer_id,ordered_at,amount,category\nO1,C1,2026-01-05,10,美妆\n".encode("gbk")
    )
    result = run_command("import_orders", path, world)
    assert result.err_lines == [
        "orders.csv:2 *: not UTF-8, though the file starts with a UTF-8 byte-order mark; save it again as "
        "UTF-8 CSV, or name its encoding with --encoding"
    ]
    assert not Order.objects.exists()
    # Named, the mark is dropped and the order keeps its id: re-importing the corrected file changes nothing
    named = run_command("import_orders", path, world, "--encoding", "gbk")
    assert not named.failed, named.err
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(
        "order_id,customer_id,ordered_at,amount,category\nO1,C1,2026-01-05,10,美妆\n", "utf-8-sig"
    )
    again = run_command("import_orders", fixed, world)
    assert "0 created, 0 updated, 1 unchanged" in again.out
    assert list(Order.objects.values_list("external_id", "total_amount")) == [("O1", Decimal("10.00"))]


def test_an_unknown_encoding_name_is_a_clear_error(world, write_csv, run_command):
    path = write_csv("orders.csv", "order_id,customer_id,ordered_at,amount\n")
    with pytest.raises(CommandError, match="Unknown encoding: klingon"):
        call_command("import_orders", str(path), "--brand", world.slug, "--encoding", "klingon")


def test_a_gbk_file_whose_only_chinese_reads_as_valid_utf8_is_still_gbk(world, tmp_path, run_command):
    # "女" in GBK (C5 AE) is also valid UTF-8 ("Ů"): the GBK reading is the plausible one
    path = tmp_path / "customers.csv"
    path.write_bytes("customer_id,gender\nC7,女\nC8,女\n".encode("gbk"))
    result = run_command("import_customers", path, world)
    assert not result.failed, result.err
    assert set(Customer.objects.filter(external_id__in=["C7", "C8"]).values_list("gender", flat=True)) == {
        "female"
    }


# Currency


@pytest.mark.parametrize("code", ["USD", "jpy", "XXX"])
def test_an_order_in_another_currency_than_the_brands_is_refused(code, world, write_csv, run_command):
    path = write_csv(
        "orders.csv", f"order_id,customer_id,ordered_at,amount,currency\nO1,C1,2026-01-05,10,{code}\n"
    )
    result = run_command("import_orders", path, world)
    assert result.err_lines == [
        f"orders.csv:2 currency: {code.upper()} is not the brand's currency (CNY) and no exchange rate was given "
        "for it"
    ]
    assert not Order.objects.exists()


def test_rates_convert_orders_into_the_brands_currency_and_are_recorded(world, write_csv, run_command):
    path = write_csv(
        "orders.csv",
        "order_id,customer_id,ordered_at,amount,quantity,currency\n"
        "O1,C1,2026-01-05,10.00,3,USD\n"
        "O1,C1,2026-01-05,0.05,1,USD\n"
        "O2,C1,2026-01-06,1000,1,JPY\n"
        "O3,C1,2026-01-07,8,1,CNY\n",
    )
    result = run_command("import_orders", path, world, "--rates", "USD=7.1,jpy=0.047")
    assert not result.failed, result.err
    orders = {
        o.external_id: (o.total_amount, o.currency, o.original_amount, o.original_currency, o.exchange_rate)
        for o in Order.objects.all()
    }
    # lines are converted one by one (10.00 * 7.1 = 71.00; 0.05 * 7.1 = 0.355 -> 0.36), the total is their sum
    assert orders == {
        "O1": (Decimal("71.36"), "CNY", Decimal("10.05"), "USD", Decimal("7.1")),
        "O2": (Decimal("47.00"), "CNY", Decimal("1000.00"), "JPY", Decimal("0.047")),
        "O3": (Decimal("8.00"), "CNY", None, "", None),
    }
    lines = list(
        OrderItem.objects.filter(order__external_id="O1")
        .order_by("line_no")
        .values_list("amount", "unit_price")
    )
    assert lines == [(Decimal("71.00"), Decimal("23.6667")), (Decimal("0.36"), Decimal("0.3600"))]
    # the same file with the same rates changes nothing
    again = run_command("import_orders", path, world, "--rates", "USD=7.1,JPY=0.047")
    assert "0 created, 0 updated, 3 unchanged" in again.out
    # another rate updates the converted amounts of that currency's orders only
    changed = run_command("import_orders", path, world, "--rates", "USD=7.2,JPY=0.047")
    assert "0 created, 1 updated, 2 unchanged" in changed.out
    o1 = Order.objects.get(external_id="O1")
    assert (o1.total_amount, o1.original_amount, o1.exchange_rate) == (
        Decimal("72.36"),
        Decimal("10.05"),
        Decimal("7.2"),
    )
    assert Order.objects.count() == 3


@pytest.mark.parametrize(
    "rates", ["USD", "USD=abc", "USD=0", "USD=-1", "US=7", "USD=7,USD=8", "USD=1e-9", "CNY=1"]
)
def test_bad_rates_are_a_clear_error(rates, world, write_csv):
    path = write_csv("orders.csv", "order_id,customer_id,ordered_at,amount\n")
    with pytest.raises(CommandError, match="^--rates: "):
        call_command("import_orders", str(path), "--brand", world.slug, "--rates", rates)


def test_currency_is_checked_for_in_memory_rows_too(world):
    result = orders_import(
        brand=world,
        rows=[
            {
                "order_id": "O1",
                "customer_id": "C1",
                "ordered_at": "2026-01-05",
                "amount": "1",
                "currency": "USD",
            }
        ],
        name="items",
    )
    assert [str(e) for e in result.errors] == [
        "items:2 currency: USD is not the brand's currency (CNY) and no exchange rate was given for it"
    ]


# CSV shape


def test_a_quote_inside_an_unquoted_value_is_an_error_on_its_line(world, write_csv, run_command):
    path = write_csv(
        "orders.csv",
        'order_id,customer_id,ordered_at,amount,sku\nO1,C1,2026-01-05,10,SKU1\nO2,C1,2026-01-05,10,SKU50"x\n',
    )
    result = run_command("import_orders", path, world)
    assert result.err_lines == [
        'orders.csv:3 sku: a quote (") inside a value that does not start with one; put the whole value in '
        'quotes and double the quote inside ("")'
    ]
    assert not Order.objects.exists()


def test_text_after_a_closing_quote_is_an_error(world, write_csv, run_command):
    path = write_csv("streams.csv", 'stream_id,started_at,title\nS9,2026-01-05,"Big "sale""\n')
    result = run_command("import_streams", path, world)
    assert result.err_lines == [
        "streams.csv:2 title: text after the closing quote of a quoted value; double a quote inside a quoted "
        'value ("")'
    ]


@pytest.mark.parametrize("flags", [(), ("--skip-invalid",)])
def test_an_unterminated_quote_is_named_on_its_line_and_nothing_vanishes_silently(
    flags, world, write_csv, run_command
):
    path = write_csv(
        "orders.csv",
        "order_id,customer_id,ordered_at,amount,sku\n"
        "O1,C1,2026-01-05,10,SKU1\n"
        'O2,C1,2026-01-05,10,"SKU2\n'
        "O3,C1,2026-01-05,10,SKU3\n"
        "O4,C1,2026-01-05,10,SKU4\n",
    )
    result = run_command("import_orders", path, world, *flags)
    assert result.failed
    assert result.err_lines == ["orders.csv:3 sku: the quote that opens this value is never closed"]
    assert not Order.objects.exists()


@pytest.mark.parametrize(("separator", "word"), [("\t", "tabs"), (";", "semicolons")])
def test_a_file_separated_by_tabs_or_semicolons_gets_a_hint(separator, word, world, write_csv, run_command):
    header = separator.join(["order_id", "customer_id", "ordered_at", "amount"])
    row = separator.join(["O1", "C1", "2026-01-05", "10"])
    result = run_command("import_orders", write_csv("orders.csv", f"{header}\n{row}\n"), world)
    assert result.err_lines == [
        f"orders.csv:1 *: the header is one column containing {word}: the values seem separated by {word}, "
        "not commas; save the file as comma-separated CSV"
    ]


def test_a_huge_number_is_an_error_not_a_traceback(world, write_csv, run_command):
    path = write_csv("views.csv", f"stream_id,customer_id,likes\nS1,C1,{'9' * 5000}\n")
    result = run_command("import_views", path, world)
    assert result.err_lines == ["views.csv:2 likes: must be at most 2147483647"]


# The GraphQL batch ingest: the same faults are errors of the item, not "Unexpected error."

INGEST = (
    "mutation($brand: ID!, $items: [%s!]!) { %s(brand: $brand, items: $items) "
    "{ ok created errors { index field message } } }"
)


@pytest.fixture
def ingest(client, world):
    from strawberry import relay

    from apps.brands.services import membership_set
    from tests.factories import UserFactory
    from tests.graphql.conftest import gql

    user = UserFactory(username="mona")
    membership_set(user=user, brand=world, role="manager")
    client.force_login(user)
    client.get("/admin/")

    def run(input_type: str, mutation: str, items: list[dict]):
        body = gql(
            client,
            INGEST % (input_type, mutation),
            {"brand": relay.to_base64("Brand", world.pk), "items": items},
        ).json()
        assert "errors" not in body, body
        return body["data"][mutation]

    return run


def refused(*errors):
    return {
        "ok": False,
        "created": 0,
        "errors": [{"index": i, "field": f, "message": m} for i, f, m in errors],
    }


def test_ingest_orders_names_the_item_for_nul_bytes_dates_and_currencies(ingest, world):
    base = {"customerId": "C1", "orderedAt": "2026-01-05T10:00:00", "lines": [{"amount": "10"}]}
    items = [
        {**base, "orderId": "O1", "orderedAt": "0001-01-01T00:00:00"},
        {**base, "orderId": "O2", "orderedAt": "9999-12-31T23:00:00-05:00"},
        {**base, "orderId": "O3", "customerId": "C\x002"},
        {**base, "orderId": "O4", "lines": [{"amount": "10", "sku": "A\x00"}]},
        {**base, "orderId": "O5", "currency": "USD"},
        {**base, "orderId": "O6"},
    ]
    assert ingest("OrderIngestInput", "ingestOrders", items) == refused(
        (0, "orderedAt", TOO_EARLY),
        (1, "orderedAt", TOO_LATE),
        (2, "customerId", NUL),
        (3, "lines.0.sku", NUL),
        (4, "currency", "USD is not the brand's currency (CNY) and no exchange rate was given for it"),
    )
    assert not Order.objects.exists()


def test_ingest_customers_and_views_name_the_item(ingest, world):
    assert ingest(
        "CustomerIngestInput",
        "ingestCustomers",
        [
            {"customerId": "C7", "city": "Hang\x00zhou"},
            {"customerId": "C8", "firstSeenAt": "1900-01-01T00:00:00"},
        ],
    ) == refused((0, "city", NUL), (1, "firstSeenAt", TOO_EARLY))
    assert ingest(
        "StreamViewIngestInput",
        "ingestStreamViews",
        [{"streamId": "S1", "customerId": "C1", "joinedAt": "2099-01-01T00:00:00"}],
    ) == refused((0, "joinedAt", TOO_LATE))
    assert not StreamView.objects.exists()


def test_a_value_over_the_csv_field_limit_stops_reading_with_its_line(world, write_csv, run_command):
    path = write_csv(
        "streams.csv", f"stream_id,started_at,title\nS7,2026-01-05,ok\nS8,2026-01-05,{'x' * 200_000}\n"
    )
    result = run_command("import_streams", path, world, "--skip-invalid")
    assert result.failed
    assert result.err_lines == ["streams.csv:3 *: not valid CSV (field larger than field limit (131072))"]
    assert not Stream.objects.filter(external_id__in=["S7", "S8"]).exists()
