import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.brands.models import Brand, Membership
from apps.loyalty.models import Benefit, Tier, TierBenefit

pytestmark = pytest.mark.django_db


def test_create_brand_makes_default_tiers_and_benefits(capsys):
    # when
    call_command(
        "create_brand", "glow", "--name", "Glow Beauty", "--timezone", "Asia/Shanghai", "--currency", "cny"
    )
    # then
    brand = Brand.objects.get(slug="glow")
    assert (brand.name, brand.timezone, brand.currency) == ("Glow Beauty", "Asia/Shanghai", "CNY")
    assert list(Tier.objects.filter(brand=brand).order_by("rank").values_list("code", flat=True)) == [
        "high",
        "potential",
        "basic",
    ]
    assert set(Benefit.objects.filter(brand=brand).values_list("kind", flat=True)) == {
        "coupon",
        "points_multiplier",
        "free_shipping",
        "early_access",
        "priority_service",
        "gift",
    }
    assert TierBenefit.objects.filter(brand=brand, tier__code="high").count() == 6
    assert "Created brand glow." in capsys.readouterr().out


def test_create_brand_is_idempotent_and_keeps_staff_edits():
    # given a brand whose high tier staff renamed
    call_command("create_brand", "glow", "--name", "Glow")
    Tier.objects.filter(brand__slug="glow", code="high").update(name="VIP")
    counts = (Tier.objects.count(), Benefit.objects.count(), TierBenefit.objects.count())
    # when it is created again with a new name
    call_command("create_brand", "glow", "--name", "Glow Beauty", "--timezone", "Europe/Berlin")
    # then nothing is duplicated, settings update, and the staff edit stays
    assert Brand.objects.filter(slug="glow").count() == 1
    assert (Tier.objects.count(), Benefit.objects.count(), TierBenefit.objects.count()) == counts
    brand = Brand.objects.get(slug="glow")
    assert (brand.name, brand.timezone) == ("Glow Beauty", "Europe/Berlin")
    assert Tier.objects.get(brand=brand, code="high").name == "VIP"


def test_running_create_brand_again_keeps_the_settings_it_is_not_given():
    # the name alone used to reset the currency to CNY and the time zone to Asia/Shanghai
    call_command("create_brand", "glow", "--name", "Glow", "--currency", "usd", "--timezone", "Europe/Berlin")
    call_command("create_brand", "glow", "--name", "Glow Three")
    brand = Brand.objects.get(slug="glow")
    assert (brand.name, brand.currency, brand.timezone) == ("Glow Three", "USD", "Europe/Berlin")


@pytest.mark.parametrize("slug", ["Bad Slug!", "", "品牌", "a/b"])
def test_create_brand_refuses_what_is_not_a_slug(slug):
    with pytest.raises(CommandError, match="slug: "):
        call_command("create_brand", slug, "--name", "X")
    assert not Brand.objects.exists()


def test_create_brand_rejects_unknown_time_zone_and_writes_nothing():
    with pytest.raises(CommandError, match="timezone: Unknown time zone: Mars/Olympus"):
        call_command("create_brand", "glow", "--name", "Glow", "--timezone", "Mars/Olympus")
    assert not Brand.objects.exists()


def test_create_brand_rejects_bad_currency():
    with pytest.raises(CommandError, match="currency"):
        call_command("create_brand", "glow", "--name", "Glow", "--currency", "YUAN")
    assert not Brand.objects.exists()


def test_create_staff_user_gives_role_and_prints_password_once(capsys):
    call_command("create_brand", "glow", "--name", "Glow")
    call_command("create_staff_user", "lin", "--brand", "glow", "--role", "manager")
    out = capsys.readouterr().out
    assert "Staff user lin now has the Manager role in glow." in out
    password = out.split("Password: ")[1].strip()
    user = get_user_model().objects.get(username="lin")
    assert user.is_staff and not user.is_superuser and user.check_password(password)
    assert Membership.objects.get(user=user).role == "manager"
    assert set(user.groups.values_list("name", flat=True)) == {"Brand manager"}
    assert user.has_perm("loyalty.change_tier") and user.has_perm("customers.view_customer")

    # when run again keeping the password, only the role changes
    call_command("create_staff_user", "lin", "--brand", "glow", "--role", "viewer", "--keep-password")
    assert "Password:" not in capsys.readouterr().out
    user = get_user_model().objects.get(username="lin")
    assert user.check_password(password)
    assert set(user.groups.values_list("name", flat=True)) == {"Brand viewer"}
    assert not get_user_model().objects.get(pk=user.pk).has_perm("loyalty.change_tier")


def test_create_staff_user_unknown_brand():
    with pytest.raises(CommandError, match="No brand with slug nope."):
        call_command("create_staff_user", "lin", "--brand", "nope")


@pytest.mark.parametrize("weak", ["1", "password", "12345678", "short"])
def test_create_staff_user_applies_the_password_rules(weak):
    call_command("create_brand", "glow", "--name", "Glow")
    with pytest.raises(CommandError, match="The password is refused: "):
        call_command("create_staff_user", "lin", "--brand", "glow", "--role", "viewer", "--password", weak)
    assert not get_user_model().objects.filter(username="lin").exists()
    call_command(
        "create_staff_user", "lin", "--brand", "glow", "--role", "viewer", "--password", "demo-pass-2026"
    )
    assert get_user_model().objects.get(username="lin").check_password("demo-pass-2026")
