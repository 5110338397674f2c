"""Writes for tiers and benefits."""

from __future__ import annotations

from django.db import transaction

from apps.loyalty.defaults import DEFAULT_BENEFITS, DEFAULT_TIER_BENEFITS, DEFAULT_TIERS
from apps.loyalty.models import Benefit, Tier, TierBenefit


@transaction.atomic
def loyalty_defaults_ensure(*, brand) -> None:
    """Add the default tiers, benefits and links a brand is missing. Never overwrites staff edits."""
    tiers = {}
    for code, name, rank, description in DEFAULT_TIERS:
        tiers[code], _ = Tier.objects.get_or_create(
            brand=brand, code=code, defaults={"name": name, "rank": rank, "description": description}
        )
    benefits = {}
    for code, name, kind, value, validity in DEFAULT_BENEFITS:
        benefits[code], _ = Benefit.objects.get_or_create(
            brand=brand,
            code=code,
            defaults={"name": name, "kind": kind, "value": value, "validity_days": validity},
        )
    for tier_code, links in DEFAULT_TIER_BENEFITS.items():
        for benefit_code, quota in links:
            TierBenefit.objects.get_or_create(
                brand=brand, tier=tiers[tier_code], benefit=benefits[benefit_code], defaults={"quota": quota}
            )
