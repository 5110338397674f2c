"""Argument helpers the engagement commands share."""

from datetime import datetime

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from apps.brands.models import Brand


def brand_of(slug: str) -> Brand:
    try:
        return Brand.objects.get(slug=slug)
    except Brand.DoesNotExist:
        raise CommandError(_("Unknown brand: %(slug)s") % {"slug": slug}) from None


def moment(value: str | None, zone) -> datetime | None:
    """An ISO 8601 date-time; without an offset it is in `zone` (the brand's time zone)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _(
                "--now: %(value)s is not an ISO 8601 date-time such as 2026-05-01T21:30 or 2026-05-01T21:30+08:00."
            )
            % {"value": value}
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
