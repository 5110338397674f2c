from datetime import UTC, datetime

import pytest

from apps.customers.models import Customer
from tests.factories import CustomerFactory, StreamFactory

pytestmark = pytest.mark.django_db


def test_happy_path_stores_every_column(brand, write_csv, run_command):
    # Given a stream and a customer file using Chinese spellings
    StreamFactory(brand=brand, external_id="S1")
    path = write_csv(
        "customers.csv",
        "customer_id,name,phone,gender,birth_year,age,province,city,acquisition_channel,acquisition_stream_id,"
        "first_seen_at,marketing_consent,automated_decisions_opt_out,preferred_touch_channel\n"
        "000123,张三,138 0000 1111,女,1990,33,上海,上海,live_stream,S1,2026-01-02,是,否,wecom\n",
    )
    # When it is imported
    result = run_command("import_customers", path, brand)
    # Then the values are stored as given (leading zeros kept)
    assert "1 rows read, 1 created" in result.out
    c = Customer.objects.get(brand=brand)
    assert c.external_id == "000123"
    assert (c.display_name, c.phone, c.gender, c.birth_year, c.age_band) == (
        "张三",
        "138 0000 1111",
        "female",
        1990,
        "25-34",
    )
    assert (c.province, c.city, c.acquisition_channel, c.acquisition_stream.external_id) == (
        "上海",
        "上海",
        "live_stream",
        "S1",
    )
    assert c.first_seen_at == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)
    assert (c.marketing_consent, c.automated_decisions_opt_out, c.preferred_touch_channel) == (
        True,
        False,
        "wecom",
    )


def test_reimport_updates_only_present_columns(brand, write_csv, run_command):
    # Given an existing customer with a name and phone
    CustomerFactory(brand=brand, external_id="C1", display_name="Li", phone="13800001111", city="")
    # When a file with only customer_id and city is imported (twice)
    path = write_csv("customers.csv", "customer_id,city\nC1,杭州\n")
    first = run_command("import_customers", path, brand)
    second = run_command("import_customers", path, brand)
    # Then city changes, the other columns stay, and the second run changes nothing
    assert "0 created, 1 updated, 0 unchanged" in first.out
    assert "0 created, 0 updated, 1 unchanged" in second.out
    c = Customer.objects.get(external_id="C1")
    assert (c.city, c.display_name, c.phone) == ("杭州", "Li", "13800001111")


def test_errors_never_echo_personal_data(brand, write_csv, run_command):
    path = write_csv(
        "customers.csv",
        "customer_id,name,phone,gender,birth_year,marketing_consent,acquisition_stream_id\n"
        "C1,王五,call-me-maybe,x,19x0,perhaps,S404\nC1,王五,,,,,\n",
    )
    result = run_command("import_customers", path, brand)
    assert result.failed
    assert result.err_lines == [
        "customers.csv:2 phone: not a valid phone number",
        "customers.csv:2 gender: must be one of: female, male, unknown",
        "customers.csv:2 birth_year: not a whole number",
        "customers.csv:2 marketing_consent: must be one of: true, false, 1, 0, yes, no, 是, 否",
        "customers.csv:2 acquisition_stream_id: unknown live stream",
    ]
    assert "call-me-maybe" not in result.err and "王五" not in result.err
    assert Customer.objects.count() == 0


def test_duplicate_customer_in_one_file_is_an_error_on_the_later_line(brand, write_csv, run_command):
    path = write_csv("customers.csv", "customer_id\nC1\nC1\n")
    result = run_command("import_customers", path, brand)
    assert result.err_lines == ["customers.csv:3 customer_id: the same customer appears on line 2"]


def test_a_birth_year_after_this_year_is_refused(brand, write_csv, run_command):
    from django.utils import timezone

    year = timezone.now().year
    path = write_csv("customers.csv", f"customer_id,birth_year\nC1,{year + 1}\nC2,2100\nC3,{year}\n")
    result = run_command("import_customers", path, brand)
    assert result.failed
    assert result.err_lines == [
        f"customers.csv:2 birth_year: must be at most {year}",
        f"customers.csv:3 birth_year: must be at most {year}",
    ]
    assert Customer.objects.count() == 0
