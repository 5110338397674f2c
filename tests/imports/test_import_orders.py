from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.customers.models import Customer
from apps.orders.importers import orders_import
from apps.orders.models import Order, OrderItem
from tests.factories import CustomerFactory, StreamFactory

pytestmark = pytest.mark.django_db

HEADER = "order_id,customer_id,ordered_at,amount,quantity,category,sku,stream_id,channel,status,currency\n"


def test_happy_path_stores_orders_lines_and_new_customers(brand, write_csv, run_command):
    # Given a stream and a file with a two-line order and a one-line order
    StreamFactory(brand=brand, external_id="S1")
    path = write_csv(
        "orders.csv",
        HEADER
        + "A1,0007,2026-01-05 10:00,100.00,2,美妆,SKU1,S1,,,\n"
        + "A1,0007,2026-01-05 10:00,50,1,美妆,SKU2,S1,,,\n"
        + "A2,0009,20260106,0,,,,,shop,已退款,cny\n",
    )
    # When it is imported
    result = run_command("import_orders", path, brand)
    # Then both orders, their lines and both customers exist with the file's values
    assert not result.failed, result.err
    assert "3 rows read, 2 created, 0 updated, 0 unchanged, 0 skipped" in result.out
    assert "customers created: 2" in result.out
    a1 = Order.objects.get(brand=brand, external_id="A1")
    assert a1.customer.external_id == "0007"
    assert a1.placed_at == datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # Asia/Shanghai wall clock
    assert a1.total_amount == Decimal("150.00")
    assert (a1.status, a1.channel, a1.currency, a1.stream.external_id) == ("paid", "live_stream", "CNY", "S1")
    lines = list(
        a1.items.order_by("line_no").values_list("line_no", "sku", "category", "quantity", "unit_price")
    )
    assert lines == [(1, "SKU1", "美妆", 2, Decimal("50.0000")), (2, "SKU2", "美妆", 1, Decimal("50.0000"))]
    a2 = Order.objects.get(brand=brand, external_id="A2")
    assert (a2.total_amount, a2.status, a2.channel, a2.currency, a2.stream) == (
        Decimal("0.00"),
        "refunded",
        "shop",
        "CNY",
        None,
    )
    customer = Customer.objects.get(brand=brand, external_id="0007")
    assert customer.first_seen_at == datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def test_reimport_is_idempotent_and_changes_update(brand, write_csv, run_command):
    # Given an imported file
    path = write_csv("orders.csv", HEADER + "A1,C1,2026-01-05,10,,,SKU1,,,,\nA1,C1,2026-01-05,5,,,SKU2,,,,\n")
    run_command("import_orders", path, brand)
    # When it is imported again unchanged
    again = run_command("import_orders", path, brand)
    # Then nothing new is written and the summary says so
    assert "2 rows read, 0 created, 0 updated, 1 unchanged, 0 skipped" in again.out
    assert "order lines unchanged: 2" in again.out
    assert (Order.objects.count(), OrderItem.objects.count(), Customer.objects.count()) == (1, 2, 1)
    # When an amount changes and the second line disappears
    write_csv("orders.csv", HEADER + "A1,C1,2026-01-05,12,,,SKU1,,,,\n")
    changed = run_command("import_orders", path, brand)
    # Then the order and its line are updated and the extra line removed
    assert "1 rows read, 0 created, 1 updated, 0 unchanged, 0 skipped" in changed.out
    assert "order lines removed: 1" in changed.out
    order = Order.objects.get(external_id="A1")
    assert order.total_amount == Decimal("12.00")
    assert list(order.items.values_list("line_no", "amount")) == [(1, Decimal("12.00"))]


def test_bad_rows_are_reported_with_line_and_column_and_nothing_is_written(brand, write_csv, run_command):
    # Given a file with one good row and one bad row of each kind
    StreamFactory(brand=brand, external_id="S1")
    path = write_csv(
        "orders.csv",
        HEADER
        + "A1,C1,2026-01-05,10,,,,,,,\n"  # 2 good
        + "A2,C1,2026-13-45,10,,,,,,,\n"  # 3 bad date
        + "A3,C1,2026-01-05,-1,,,,,,,\n"  # 4 negative amount
        + "A4,C1,2026-01-05,10,,,,S9,,,\n"  # 5 unknown stream
        + "A5,C1,2026-01-05,10,,,,,,lost,\n"  # 6 bad enum
        + "A6,C1,2026-01-05,10,1.5,,,,,,\n"  # 7 bad integer
        + "A7,C1,2026-01-05,10,0,,,,,,\n"  # 8 quantity must be positive
        + "A1,C2,2026-01-05,10,,,,,,,\n"  # 9 inconsistent with line 2
        + "A8,,2026-01-05,abc,,,,,,,\n",  # 10 missing customer, not a number
    )
    # When it is imported without --skip-invalid
    result = run_command("import_orders", path, brand)
    # Then every error is listed and nothing is written
    assert result.failed
    assert result.err_lines == [
        "orders.csv:3 ordered_at: not a valid date or date-time (use ISO 8601 or YYYYMMDD)",
        "orders.csv:4 amount: must not be negative",
        "orders.csv:5 stream_id: unknown live stream",
        "orders.csv:6 status: must be one of: paid, refunded, cancelled",
        "orders.csv:7 quantity: not a whole number",
        "orders.csv:8 quantity: must be at least 1",
        "orders.csv:9 customer_id: differs from line 2 of the same order",
        "orders.csv:10 customer_id: a value is required",
        "orders.csv:10 amount: not a valid number",
    ]
    assert "nothing was written" in str(result.error)
    assert Order.objects.count() == Customer.objects.count() == 0


def test_skip_invalid_writes_good_rows_and_drops_orders_with_a_bad_line(brand, write_csv, run_command):
    # Given good orders and an order whose second line is invalid
    path = write_csv(
        "orders.csv",
        HEADER + "A1,C1,2026-01-05,10,,,,,,,\nB1,C2,2026-01-05,10,,,,,,,\nB1,C2,2026-01-05,-3,,,,,,,\n",
    )
    # When it is imported with --skip-invalid
    result = run_command("import_orders", path, brand, "--skip-invalid")
    # Then the good order is written, the bad line reported and the partial order skipped whole
    assert not result.failed
    assert "orders.csv:4 amount: must not be negative" in result.err_lines
    assert "3 rows read, 1 created, 0 updated, 0 unchanged, 2 skipped" in result.out
    assert list(Order.objects.values_list("external_id", flat=True)) == ["A1"]


def test_missing_required_column_is_named(brand, write_csv, run_command):
    # Given a file without the ordered_at column and with an unknown column
    path = write_csv("orders.csv", "Customer_ID , Amount,colour\nC1,10,red\n")
    # When it is imported
    result = run_command("import_orders", path, brand)
    # Then the missing column is an error and the unknown one a warning
    assert result.failed
    assert "orders.csv:1 ordered_at: required column is missing" in result.err_lines
    assert "orders.csv:1 colour: unknown column, ignored" in result.err_lines
    assert not Order.objects.exists()


def test_a_purchase_log_without_amounts_is_imported_with_a_warning(brand, write_csv, run_command):
    # Given a log of purchase times only (no amounts, no order ids, two purchases on one day)
    path = write_csv(
        "log.csv", "customer_id,ordered_at\n1,2006-01-01\n2,2006-01-01\n2,2006-12-19\n2,2006-12-19\n"
    )
    # When it is imported
    result = run_command("import_orders", path, brand)
    # Then every purchase is an order of amount 0, and the log is told that revenue will be unknown
    assert not result.failed
    assert any("log.csv:1 amount: no amount column" in line for line in result.err_lines)
    assert sorted(Order.objects.values_list("customer__external_id", "total_amount")) == [
        ("1", 0),
        ("2", 0),
        ("2", 0),
        ("2", 0),
    ]


def test_dry_run_counts_but_writes_nothing(brand, write_csv, run_command):
    path = write_csv("orders.csv", HEADER + "A1,C1,2026-01-05,10,,,,,,,\n")
    result = run_command("import_orders", path, brand, "--dry-run")
    assert "1 rows read, 1 created" in result.out and "dry run" in result.out
    assert Order.objects.count() == Customer.objects.count() == 0


def test_rows_without_order_id_get_stable_derived_ids(brand, write_csv, run_command):
    # Given two identical rows and one different row, without order_id
    path = write_csv(
        "orders.csv",
        "customer_id,ordered_at,amount\nC1,2026-01-05 10:00,9.90\nC1,2026-01-05 10:00,9.90\nC1,2026-01-05,1\n",
    )
    # When imported twice
    first = run_command("import_orders", path, brand)
    ids = set(Order.objects.values_list("external_id", flat=True))
    second = run_command("import_orders", path, brand)
    # Then identical rows are two orders, and the re-import creates nothing
    assert "3 created" in first.out
    assert len(ids) == 3 and all(i.startswith("auto-") for i in ids)
    assert "0 created, 0 updated, 3 unchanged" in second.out
    assert set(Order.objects.values_list("external_id", flat=True)) == ids


def test_existing_customer_first_seen_moves_earlier_only(brand, write_csv, run_command):
    CustomerFactory(brand=brand, external_id="C1", first_seen_at=datetime(2026, 1, 3, tzinfo=UTC))
    CustomerFactory(brand=brand, external_id="C2", first_seen_at=datetime(2025, 1, 1, tzinfo=UTC))
    path = write_csv(
        "orders.csv", "customer_id,ordered_at,amount\nC1,2026-01-01T00:00:00Z,1\nC2,2026-01-01T00:00:00Z,1\n"
    )
    run_command("import_orders", path, brand)
    assert Customer.objects.get(external_id="C1").first_seen_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert Customer.objects.get(external_id="C2").first_seen_at == datetime(2025, 1, 1, tzinfo=UTC)


def test_naive_dates_use_the_brand_time_zone(brand, ny_brand, write_csv, run_command):
    # Given the same naive time imported for a Shanghai brand and a New York brand
    path = write_csv("orders.csv", "order_id,customer_id,ordered_at,amount\nA1,C1,2026-01-05 10:00,1\n")
    run_command("import_orders", path, brand)
    run_command("import_orders", path, ny_brand)
    # Then each is read as wall-clock time of its brand; an explicit offset wins
    assert Order.objects.get(brand=brand).placed_at == datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    assert Order.objects.get(brand=ny_brand).placed_at == datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    assert Order.objects.get(brand=ny_brand).currency == "USD"


def test_service_accepts_in_memory_rows(brand):
    result = orders_import(
        brand=brand,
        rows=[
            {"customer_id": "C1", "ordered_at": datetime(2026, 1, 5, tzinfo=UTC), "amount": Decimal("3.5")}
        ],
        name="batch",
    )
    assert result.ok and result.created == 1
    assert Order.objects.get().total_amount == Decimal("3.50")
    bad = orders_import(
        brand=brand, rows=[{"customer_id": "C1", "ordered_at": "x", "amount": "1"}], name="batch"
    )
    assert [str(e) for e in bad.errors] == [
        "batch:2 ordered_at: not a valid date or date-time (use ISO 8601 or YYYYMMDD)"
    ]


def test_records_spanning_lines_blank_lines_and_extra_cells_keep_their_line_numbers(
    brand, write_csv, run_command
):
    # Given a file the whole-column reader cannot take line by line: a quoted cell with a line break, a
    # blank line and a row with more cells than the header
    path = write_csv(
        "orders.csv",
        "order_id,customer_id,ordered_at,amount,category\n"
        + 'A1,C1,2026-01-05,10,"two\nlines"\n'  # 2-3
        + "\n"  # 4
        + "A2,C1,someday,10,\n"  # 5
        + "A3,C1,2026-01-05,10,,extra\n",  # 6
    )
    # When it is imported
    result = run_command("import_orders", path, brand)
    # Then the errors name the physical lines
    assert result.err_lines == [
        "orders.csv:5 ordered_at: not a valid date or date-time (use ISO 8601 or YYYYMMDD)",
        "orders.csv:6 *: more values than header columns",
    ]
    assert "3 rows read" in result.out


def test_skipped_and_repeated_wall_clock_times_read_like_the_per_value_parser(
    ny_brand, write_csv, run_command
):
    # Given New York times inside the spring-forward gap and the autumn overlap (fold 0: the first reading)
    path = write_csv(
        "orders.csv",
        "order_id,customer_id,ordered_at,amount\nA1,C1,2026-03-08 02:30,1\nA2,C1,2026-11-01T01:30:00,1\n",
    )
    run_command("import_orders", path, ny_brand)
    # Then they are stored exactly as datetime.fromisoformat(...).replace(tzinfo=zone) would place them
    assert Order.objects.get(external_id="A1").placed_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert Order.objects.get(external_id="A2").placed_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_unit_prices_round_half_up_and_totals_are_exact(brand, write_csv, run_command):
    path = write_csv(
        "orders.csv",
        "order_id,customer_id,ordered_at,amount,quantity\n"
        + "A1,C1,2026-01-05,0.01,8\nA1,C1,2026-01-05,10,3\nA1,C1,2026-01-05,9999999.99,1\n"
        + "A1,C1,2026-01-05,1E+2,1\n",
    )
    result = run_command("import_orders", path, brand)
    assert not result.failed, result.err
    order = Order.objects.get(external_id="A1")
    assert order.total_amount == Decimal("10000110.00")
    assert list(order.items.order_by("line_no").values_list("unit_price", "amount")) == [
        (Decimal("0.0013"), Decimal("0.01")),
        (Decimal("3.3333"), Decimal("10.00")),
        (Decimal("9999999.9900"), Decimal("9999999.99")),
        (Decimal("100.0000"), Decimal("100.00")),
    ]


def test_a_bulk_import_refreshes_the_statistics_of_the_tables_it_filled(
    brand, write_csv, run_command, monkeypatch
):
    """An import that writes ANALYZE_THRESHOLD rows or more into a table ANALYZEs it in its transaction (later
    statements of the import join against it, and autovacuum may be off or behind); a small one does not."""
    from django.db import connection

    from apps.core.importing import staging

    analysed: list[str] = []
    real = staging.analyze

    def spy(*tables):
        analysed.extend(tables)
        real(*tables)

    monkeypatch.setattr(staging, "analyze", spy)
    small = write_csv("small.csv", HEADER + "".join(f"S{i},C{i},2026-01-05,10,,,,,,,\n" for i in range(50)))
    assert not run_command("import_orders", small, brand).failed
    assert analysed == []
    n = staging.ANALYZE_THRESHOLD + 500
    rows = "".join(f"B{i},K{i},2026-01-{1 + i % 28:02d},{10 + i % 90},,,,,,,\n" for i in range(n))
    result = run_command("import_orders", write_csv("bulk.csv", HEADER + rows), brand)
    assert not result.failed, result.err
    assert {Order._meta.db_table, Customer._meta.db_table} <= set(analysed)
    with connection.cursor() as cursor:  # what the planner now believes the tables hold
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN (%s, %s)",
            [Order._meta.db_table, Customer._meta.db_table],
        )
        estimates = dict(cursor.fetchall())
    assert estimates[Order._meta.db_table] >= n and estimates[Customer._meta.db_table] >= n
