"""Redemptions come in from a CSV file: each row redeems the customer's grant that was open then; re-importing
changes nothing; every bad row is named by line and column and nothing is half-written."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from apps.loyalty.importers import redemptions_import
from apps.loyalty.models import BenefitGrant
from tests.factories import BenefitFactory, CustomerFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture
def grants(brand):
    coupon = BenefitFactory(brand=brand, code="coupon-50", kind="coupon")
    ann, bo = (
        CustomerFactory(brand=brand, external_id="C-ANN"),
        CustomerFactory(brand=brand, external_id="C-BO"),
    )

    def grant(customer, days=30, **fields):
        return BenefitGrant.objects.create(
            brand=brand,
            customer=customer,
            benefit=coupon,
            granted_at=T0,
            expires_at=T0 + timedelta(days=days),
            **fields,
        )

    # Ann holds two coupons: the one expiring first is used first
    return {
        "late": grant(ann, 30),
        "early": grant(ann, 10),
        "bo": grant(bo, 5),
        "revoked": grant(bo, 30, revoked_at=T0),
    }


def write(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "redemptions.csv"
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_rows_redeem_the_grant_open_then_and_a_second_import_changes_nothing(brand, grants, tmp_path, capsys):
    path = write(
        tmp_path,
        "customer_id,benefit,redeemed_at\nC-ANN,coupon-50,2026-05-02 20:00\nC-ANN,coupon-50,2026-05-03 09:30\n",
    )
    call_command("import_redemptions", path, brand=brand.slug)
    assert "2 updated" in capsys.readouterr().out
    early, late = (BenefitGrant.objects.get(pk=grants[k].pk) for k in ("early", "late"))
    assert early.redeemed_at == datetime(2026, 5, 2, 12, 0, tzinfo=UTC)  # brand time 20:00
    assert late.redeemed_at == datetime(2026, 5, 3, 1, 30, tzinfo=UTC)
    call_command("import_redemptions", path, brand=brand.slug)
    assert "0 updated, 2 unchanged" in capsys.readouterr().out


def test_bad_rows_are_named_and_nothing_is_written_unless_told_to_skip_them(brand, grants, tmp_path, capsys):
    text = (
        "customer_id,benefit,redeemed_at,grant_id\n"
        "C-ANN,coupon-50,2026-05-02 20:00,\n"  # fine
        "C-NOBODY,coupon-50,2026-05-02 20:00,\n"  # unknown customer
        "C-BO,coupon-50,2026-05-20 10:00,\n"  # Bo's open coupon expired on the 6th; the other is revoked
        f"C-BO,coupon-50,2026-05-02 10:00,{grants['revoked'].pk}\n"  # revoked
        "C-ANN,no-such,2026-05-02 20:00,\n"  # unknown benefit
        "C-ANN,coupon-50,yesterday,\n"  # not a time
    )
    path = write(tmp_path, text, encoding="gb18030")
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_redemptions", path, brand=brand.slug)
    err = capsys.readouterr().err
    for line, column in (
        (3, "customer_id"),
        (4, "redeemed_at"),
        (5, "grant_id"),
        (6, "benefit"),
        (7, "redeemed_at"),
    ):
        assert f":{line}" in err and column in err, (line, column, err)
    assert "revoked" in err and "no grant of this benefit was open" in err
    assert not BenefitGrant.objects.filter(brand=brand, redeemed_at__isnull=False).exists()
    result = redemptions_import(brand=brand, path=path, skip_invalid=True)
    assert (result.updated, result.skipped) == (1, 5)
    assert BenefitGrant.objects.get(pk=grants["early"].pk).redeemed_at is not None
