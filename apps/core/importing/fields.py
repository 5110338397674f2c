"""Field parsers. Each takes a stripped, non-empty string and returns a Python value or raises FieldError.

Parsers are built once per import (they hold caches and translated messages) and called per value.
Messages never contain the value itself: it may be personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.core.importing.errors import FieldError

Parser = Callable[[str], object]

_CACHE_LIMIT = 200_000

# Control characters no field may hold: C0 controls but tab, line feed and carriage return (a quoted cell may
# span lines), DEL and the C1 controls (what a mis-decoded file often yields). NUL bytes cannot even be stored.
CONTROL_CHARACTERS = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_CONTROL_RE = re.compile(CONTROL_CHARACTERS)


_BUT_C0_CONTROLS = bytes(
    b for b in range(256) if not ((b < 0x20 and b not in (0x09, 0x0A, 0x0D)) or b == 0x7F)
)
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def has_control_character(text: str) -> bool:
    """Whether a whole file's text holds a control character anywhere (as `control_character`, but in one
    pass at C speed: deleting every other byte of its UTF-8 form leaves the C0 controls and DEL; C1 controls
    are C2 80–9F)."""
    data = text.encode("utf-8", "surrogatepass")
    if data.translate(None, _BUT_C0_CONTROLS):
        return True
    return b"\xc2" in data and _C1_UTF8.search(data) is not None


def control_character(raw: str) -> str | None:
    """The reason a value is refused for holding a control character (None: it holds none). The reason names
    the character's code point, never the value."""
    found = _CONTROL_RE.search(raw)
    if found is None:
        return None
    return _("contains a control character (%(code)s)") % {"code": f"U+{ord(found.group()):04X}"}


@dataclass(frozen=True)
class DateRange:
    """The plausible dates of an import, as aware UTC datetimes, with the reasons for values outside."""

    earliest: datetime
    latest: datetime
    too_early: str
    too_late: str

    def check(self, value: datetime) -> None:
        """Raise FieldError when the aware `value` is outside the range (any time zone; never overflows)."""
        if value < self.earliest:
            raise FieldError(self.too_early)
        if value > self.latest:
            raise FieldError(self.too_late)


def plausible_dates(tz: tzinfo) -> DateRange:
    """No date before settings.CLV_IMPORT_EARLIEST_DATE (the start of that day in the brand's zone `tz`): no
    brand's history starts earlier, so such a date is a typo or a placeholder such as 1900-01-01; none more
    than settings.CLV_IMPORT_MAX_FUTURE_DAYS days after now (clock skew), such as 2099."""
    try:
        earliest_day = date.fromisoformat(str(settings.CLV_IMPORT_EARLIEST_DATE))
        days = int(settings.CLV_IMPORT_MAX_FUTURE_DAYS)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            "CLV_IMPORT_EARLIEST_DATE must be a date (YYYY-MM-DD), CLV_IMPORT_MAX_FUTURE_DAYS a whole number"
        ) from exc
    return DateRange(
        earliest=datetime.combine(earliest_day, time(), tzinfo=tz).astimezone(UTC),
        latest=timezone.now() + timedelta(days=days),
        too_early=_("must not be before %(date)s") % {"date": earliest_day.isoformat()},
        too_late=ngettext(
            "must not be more than %(days)d day in the future",
            "must not be more than %(days)d days in the future",
            days,
        )
        % {"days": days},
    )


def text(max_length: int) -> Parser:
    too_long = _("longer than %(max)d characters") % {"max": max_length}

    def parse(raw: str) -> str:
        if len(raw) > max_length:
            raise FieldError(too_long)
        return raw

    return parse


def external_id(max_length: int = 128) -> Parser:
    """Ids are kept exactly as given (leading zeros included); only surrounding whitespace is stripped."""
    return text(max_length)


class DateTimeParser:
    """ISO 8601 date or date-time (with or without offset) or compact YYYYMMDD.

    Naive values are wall-clock time in `tz` (the brand's zone); a date alone is the start of that day.
    Values outside `dates` (default: `plausible_dates(tz)`) are refused, before any conversion (year 1 in
    Shanghai is year 0 in UTC, which Python cannot represent). Results are aware datetimes in UTC. Repeated
    strings are served from a cache.
    """

    def __init__(self, tz: tzinfo, dates: DateRange | None = None):
        self.tz = tz
        self.dates = dates or plausible_dates(tz)
        self.cache: dict[str, datetime] = {}
        self.message = _("not a valid date or date-time (use ISO 8601 or YYYYMMDD)")

    def __call__(self, raw: str) -> datetime:
        try:
            return self.cache[raw]
        except KeyError:
            pass
        try:
            if len(raw) == 8 and raw.isdigit():
                value = datetime(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
            else:
                value = datetime.fromisoformat(raw)
        except ValueError:
            raise FieldError(self.message) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        self.dates.check(value)
        value = value.astimezone(UTC)
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()
        self.cache[raw] = value
        return value


class DecimalParser:
    """A plain decimal number with at most `places` decimals; negatives rejected unless allowed."""

    def __init__(self, places: int = 2, max_digits: int = 14, allow_negative: bool = False):
        self.places = places
        self.max_int_digits = max_digits - places
        self.allow_negative = allow_negative
        self.cache: dict[str, Decimal] = {}
        self.not_number = _("not a valid number")
        self.negative = _("must not be negative")
        self.too_precise = _("at most %(places)d decimal places") % {"places": places}
        self.too_large = _("too large")

    def __call__(self, raw: str) -> Decimal:
        try:
            return self.cache[raw]
        except KeyError:
            pass
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise FieldError(self.not_number) from None
        if not value.is_finite():
            raise FieldError(self.not_number)
        if value < 0 and not self.allow_negative:
            raise FieldError(self.negative)
        sign, digits, exponent = value.as_tuple()
        if exponent < -self.places:
            raise FieldError(self.too_precise)
        if len(digits) + exponent > self.max_int_digits:
            raise FieldError(self.too_large)
        if len(self.cache) < _CACHE_LIMIT:
            self.cache[raw] = value
        return value


class IntParser:
    """A whole number in [min_value, max_value]; plain ASCII digits with an optional sign."""

    def __init__(self, min_value: int = 0, max_value: int = 2_147_483_647):
        self.min_value = min_value
        self.max_value = max_value
        self.cache: dict[str, int] = {}
        self.not_int = _("not a whole number")
        self.too_small = _("must be at least %(min)d") % {"min": min_value}
        self.too_large = _("must be at most %(max)d") % {"max": max_value}

    def __call__(self, raw: str) -> int:
        try:
            return self.cache[raw]
        except KeyError:
            pass
        digits = raw[1:] if raw[:1] in "+-" else raw
        if not (digits.isascii() and digits.isdigit()):
            raise FieldError(self.not_int)
        if len(digits.lstrip("0")) > 30:  # int() refuses more than 4,300 digits; nothing valid has 30
            raise FieldError(self.too_small if raw[:1] == "-" else self.too_large)
        value = int(raw)
        if value < self.min_value:
            raise FieldError(self.too_small)
        if value > self.max_value:
            raise FieldError(self.too_large)
        if len(self.cache) < 10_000:
            self.cache[raw] = value
        return value


class ChoiceParser:
    """One of a fixed set of stored values; case-insensitive; extra spellings (e.g. Chinese) via aliases."""

    def __init__(self, choices: Iterable[str], aliases: Mapping[str, str] | None = None):
        values = list(choices)
        self.mapping: dict[str, str] = {v.lower(): v for v in values}
        for alias, value in (aliases or {}).items():
            self.mapping[alias.lower()] = value
        self.message = _("must be one of: %(choices)s") % {"choices": ", ".join(values)}

    def __call__(self, raw: str) -> str:
        try:
            return self.mapping[raw]
        except KeyError:
            pass
        try:
            return self.mapping[raw.lower()]
        except KeyError:
            raise FieldError(self.message) from None


TRUE_WORDS = ("true", "1", "yes", "y", "t", "是")
FALSE_WORDS = ("false", "0", "no", "n", "f", "否")


class BoolParser:
    def __init__(self):
        self.mapping = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
        self.message = _("must be one of: true, false, 1, 0, yes, no, 是, 否")

    def __call__(self, raw: str) -> bool:
        try:
            return self.mapping[raw.lower()]
        except KeyError:
            raise FieldError(self.message) from None


_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,30}$")


def phone(max_length: int = 32) -> Parser:
    message = _("not a valid phone number")

    def parse(raw: str) -> str:
        if len(raw) > max_length or not _PHONE_RE.match(raw):
            raise FieldError(message)
        return raw

    return parse


def email(max_length: int = 254) -> Parser:
    """An e-mail address as Django's EmailValidator accepts it, lower-cased domain kept as given."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    message = _("not a valid e-mail address")

    def parse(raw: str) -> str:
        try:
            validate_email(raw)
        except ValidationError:
            raise FieldError(message) from None
        if len(raw) > max_length:
            raise FieldError(message)
        return raw

    return parse


_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")


def currency() -> Parser:
    message = _("must be a three-letter currency code such as CNY")

    def parse(raw: str) -> str:
        if not _CURRENCY_RE.match(raw):
            raise FieldError(message)
        return raw.upper()

    return parse
