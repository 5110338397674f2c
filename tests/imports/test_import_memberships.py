from datetime import UTC, datetime

import pytest

from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer

pytestmark = pytest.mark.django_db


def test_memberships_create_communities_and_customers(brand, write_csv, run_command):
    # Given a membership file naming a new community
    path = write_csv(
        "members.csv",
        "community_id,customer_id,joined_at,community_name,community_kind,left_at,activity_count\n"
        "G01,C1,2025-12-01,粉丝一群,wecom,,12\nG01,C2,2025-12-02 09:30,,,2025-12-20,0\n",
    )
    # When imported twice
    first = run_command("import_memberships", path, brand)
    second = run_command("import_memberships", path, brand)
    # Then the community, both customers and both spells exist; the rerun changes nothing
    assert (
        "2 created" in first.out
        and "communities created: 1" in first.out
        and "customers created: 2" in first.out
    )
    assert "0 created, 0 updated, 2 unchanged" in second.out
    g = Community.objects.get(brand=brand)
    assert (g.external_id, g.name, g.kind) == ("G01", "粉丝一群", "wecom")
    m = CommunityMembership.objects.get(customer__external_id="C1")
    assert (m.joined_at, m.left_at, m.activity_count) == (datetime(2025, 11, 30, 16, tzinfo=UTC), None, 12)
    assert Customer.objects.filter(brand=brand).count() == 2
    # When the activity count changes
    write_csv("members.csv", "community_id,customer_id,joined_at,activity_count\nG01,C1,2025-12-01,13\n")
    changed = run_command("import_memberships", path, brand)
    assert "0 created, 1 updated, 0 unchanged" in changed.out
    assert CommunityMembership.objects.get(customer__external_id="C1").activity_count == 13


def test_membership_errors(brand, write_csv, run_command):
    path = write_csv(
        "members.csv",
        "community_id,customer_id,joined_at,community_kind,left_at,activity_count\n"
        "G1,C1,2025-12-02,qq,,1\nG1,C1,2025-12-02,,2025-12-01,1\nG1,C2,2025-12-02,,,many\n"
        "G1,C3,2025-12-02,,,1\nG1,C3,20251202,,,1\n",
    )
    result = run_command("import_memberships", path, brand)
    assert result.err_lines == [
        "members.csv:2 community_kind: must be one of: wechat_group, wecom, app_group, other",
        "members.csv:3 left_at: must not be before joined_at",
        "members.csv:4 activity_count: not a whole number",
        "members.csv:6 joined_at: the same community, customer and joined_at appear on line 5",
    ]
    assert CommunityMembership.objects.count() == Community.objects.count() == 0
