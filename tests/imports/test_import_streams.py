from datetime import UTC, datetime

import pytest

from apps.customers.models import Customer
from apps.streams.models import Stream, StreamView
from tests.factories import CustomerFactory, StreamFactory

pytestmark = pytest.mark.django_db


def test_streams_happy_path_and_idempotent_rerun(brand, write_csv, run_command):
    # Given a stream file with a Chinese platform name
    path = write_csv(
        "streams.csv",
        "stream_id,started_at,ended_at,title,host,platform,category\n"
        "0042,2026-01-01 20:00,2026-01-01 22:30,新年直播,小美,抖音,美妆\n",
    )
    # When it is imported twice
    first = run_command("import_streams", path, brand)
    second = run_command("import_streams", path, brand)
    # Then one stream is stored with the file's values and the rerun changes nothing
    assert "1 created" in first.out and "0 created, 0 updated, 1 unchanged" in second.out
    s = Stream.objects.get(brand=brand)
    assert (s.external_id, s.title, s.host_name, s.platform, s.category) == (
        "0042",
        "新年直播",
        "小美",
        "douyin",
        "美妆",
    )
    assert s.started_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert s.ended_at == datetime(2026, 1, 1, 14, 30, tzinfo=UTC)
    # When the title changes
    write_csv("streams.csv", "stream_id,started_at,title\n0042,2026-01-01 20:00,改名\n")
    changed = run_command("import_streams", path, brand)
    assert "0 created, 1 updated" in changed.out
    s.refresh_from_db()
    assert (s.title, s.host_name) == ("改名", "小美")


def test_stream_errors(brand, write_csv, run_command):
    path = write_csv(
        "streams.csv",
        "stream_id,started_at,ended_at,platform\nS1,2026-01-02,2026-01-01,douyin\nS2,2026-01-02,,bilibili\n",
    )
    result = run_command("import_streams", path, brand)
    assert result.err_lines == [
        "streams.csv:2 ended_at: must not be before started_at",
        "streams.csv:3 platform: must be one of: douyin, kuaishou, taobao, wechat_channels, other",
    ]
    assert Stream.objects.count() == 0


def test_views_create_unknown_customers_and_default_to_stream_start(brand, write_csv, run_command):
    # Given a stream and a known customer
    stream = StreamFactory(brand=brand, external_id="S1", started_at=datetime(2026, 1, 1, 12, tzinfo=UTC))
    CustomerFactory(brand=brand, external_id="C1")
    path = write_csv(
        "views.csv",
        "stream_id,customer_id,joined_at,watch_seconds,comments,likes,shares\n"
        "S1,C1,2026-01-01 20:05,600,3,10,1\nS1,00C2,,30,0,0,0\n",
    )
    # When the views are imported twice
    first = run_command("import_views", path, brand)
    second = run_command("import_views", path, brand)
    # Then both views exist, the viewer who never bought is a customer, and the rerun is unchanged
    assert "2 created" in first.out and "customers created: 1" in first.out
    assert "0 created, 0 updated, 2 unchanged" in second.out
    v1 = StreamView.objects.get(customer__external_id="C1")
    assert (v1.joined_at, v1.watch_seconds, v1.comments, v1.likes, v1.shares) == (
        datetime(2026, 1, 1, 12, 5, tzinfo=UTC),
        600,
        3,
        10,
        1,
    )
    v2 = StreamView.objects.get(customer__external_id="00C2")
    assert v2.joined_at == stream.started_at
    assert Customer.objects.get(external_id="00C2").first_seen_at == stream.started_at


def test_view_errors(brand, write_csv, run_command):
    StreamFactory(brand=brand, external_id="S1")
    path = write_csv(
        "views.csv",
        "stream_id,customer_id,watch_seconds,likes\nS1,C1,10,1\nS9,C1,10,1\nS1,C2,-5,1\nS1,C1,10,2\n",
    )
    result = run_command("import_views", path, brand, "--skip-invalid")
    assert result.err_lines == [
        "views.csv:3 stream_id: unknown live stream",
        "views.csv:4 watch_seconds: must be at least 0",
        "views.csv:5 customer_id: the same stream and customer appear on line 2",
    ]
    assert "4 rows read, 1 created, 0 updated, 0 unchanged, 3 skipped" in result.out
    assert StreamView.objects.count() == 1
