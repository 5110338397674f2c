from decimal import Decimal

import pytest

from apps.customers.models import Customer
from apps.orders.models import Order
from apps.streams.models import Stream

pytestmark = pytest.mark.django_db


def test_gb18030_file_with_chinese_content(brand, write_csv, run_command):
    # Given a GBK/GB18030 export from a Chinese tool
    path = write_csv(
        "streams.csv",
        "stream_id,started_at,title,platform\nS1,2026-01-01,春节特卖直播,快手\n",
        encoding="gb18030",
    )
    result = run_command("import_streams", path, brand)
    assert not result.failed, result.err
    assert Stream.objects.values_list("title", "platform").get() == ("春节特卖直播", "kuaishou")


def test_gbk_file(brand, write_csv, run_command):
    path = write_csv("customers.csv", "customer_id,name,gender\nC1,李雷,男\n", encoding="gbk")
    run_command("import_customers", path, brand)
    assert Customer.objects.values_list("display_name", "gender").get() == ("李雷", "male")


def test_utf8_with_bom_and_messy_headers(brand, write_csv, run_command):
    # Given a UTF-8 file with BOM, upper-case padded headers and a status in Chinese
    path = write_csv(
        "orders.csv",
        " Order_ID ,CUSTOMER_ID,Ordered_At ,Amount,Status\nA1, 0001 ,2026-01-05,0.00,已取消\n",
        "utf-8-sig",
    )
    result = run_command("import_orders", path, brand)
    assert not result.failed, result.err
    order = Order.objects.get()
    assert (order.external_id, order.customer.external_id, order.total_amount, order.status) == (
        "A1",
        "0001",
        Decimal("0.00"),
        "cancelled",
    )


def test_a_file_in_neither_encoding_is_a_clear_error(brand, write_csv, run_command):
    path = write_csv("orders.csv", "customer_id,ordered_at,amount\n")
    path.write_bytes(b"customer_id,ordered_at,amount\n\xff\xfe,\x80,1\n")
    result = run_command("import_orders", path, brand)
    assert result.failed
    assert result.err_lines == [
        "orders.csv:2 *: neither UTF-8 nor GB18030/GBK text; save the file as UTF-8 CSV, or name its encoding "
        "with --encoding"
    ]


def test_quoted_multiline_record_reports_its_first_line(brand, write_csv, run_command):
    path = write_csv("streams.csv", 'stream_id,started_at,title\nS1,2026-01-01,"two\nlines"\nS2,someday,x\n')
    result = run_command("import_streams", path, brand)
    assert result.err_lines == [
        "streams.csv:4 started_at: not a valid date or date-time (use ISO 8601 or YYYYMMDD)"
    ]
