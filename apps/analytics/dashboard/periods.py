"""The dashboard's date range: a preset (the last 7, 30 or 90 days, this month, last month) or custom from/to
days (GET parameters `period`, `from`, `to`; brand days, inclusive), the previous period of equal length
(环比) and the same days a year earlier (同比). Bad input falls back to the default with a message naming the
parameter and the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

DEFAULT = "30d"
PRESETS = [
    ("7d", gettext_lazy("Last 7 days")),
    ("30d", gettext_lazy("Last 30 days")),
    ("90d", gettext_lazy("Last 90 days")),
    ("this_month", gettext_lazy("This month")),
    ("last_month", gettext_lazy("Last month")),
    ("custom", gettext_lazy("Custom")),
]
MAX_DAYS = 3660  # ten years: longer than any brand's history


@dataclass
class Period:
    preset: str
    start: date
    end: date
    errors: list[str] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> tuple[date, date]:
        """The period of equal length just before."""
        return self.start - timedelta(days=self.days), self.start - timedelta(days=1)

    @property
    def year_before(self) -> tuple[date, date]:
        """The same days a year earlier (29 February → 28 February)."""
        return _year_before(self.start), _year_before(self.end)

    @property
    def calendar_month(self) -> date | None:
        """The first day of the month when the period starts on a month's first day and ends in that month
        (a whole month, or this month to date)."""
        if self.start.day == 1 and (self.start.year, self.start.month) == (self.end.year, self.end.month):
            return self.start
        return None


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def preset_days(preset: str, today: date) -> tuple[date, date]:
    if preset == "7d":
        return today - timedelta(days=6), today
    if preset == "90d":
        return today - timedelta(days=89), today
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    return today - timedelta(days=29), today  # 30d


def period_from_params(params, today: date) -> Period:
    """The period the GET parameters ask for: a preset (its days; `from`/`to` are then ignored), or custom
    `from`/`to` days (also without `period`). A missing `to` is today, a missing `from` 30 days before `to`."""
    preset = params.get("period") or ("custom" if params.get("from") or params.get("to") else DEFAULT)
    errors = []
    if preset not in dict(PRESETS):
        errors.append(
            _("period: %(value)s is not one of %(choices)s.")
            % {"value": preset, "choices": ", ".join(code for code, _label in PRESETS)}
        )
        preset = DEFAULT
    if preset != "custom":
        return Period(preset, *preset_days(preset, today), errors)
    days = {}
    for name in ("from", "to"):
        raw = (params.get(name) or "").strip()
        if not raw:
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            errors.append(
                _("%(name)s: %(value)s is not a date such as 2026-05-01.") % {"name": name, "value": raw}
            )
    end = days.get("to", today)
    start = days.get("from", end - timedelta(days=29))
    if start > end:
        errors.append(
            _("from: %(start)s is after to: %(end)s.") % {"start": start.isoformat(), "end": end.isoformat()}
        )
        start, end = preset_days(DEFAULT, today)
        return Period(DEFAULT, start, end, errors)
    if (end - start).days + 1 > MAX_DAYS:
        errors.append(_("from: the period is longer than %(days)d days.") % {"days": MAX_DAYS})
        start, end = preset_days(DEFAULT, today)
        return Period(DEFAULT, start, end, errors)
    if errors and not days:  # neither day could be read: the default period
        start, end = preset_days(DEFAULT, today)
        return Period(DEFAULT, start, end, errors)
    return Period("custom", start, end, errors)
