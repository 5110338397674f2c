"""Field parsers. Each takes a stripped, non-empty string and returns a Python value or raises FieldError.

Parsers are built once per import (they hold caches and translated messages) and called per value.
Messages never contain the value itself: it may be personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from apps.core.importing.errors import FieldError

Parser = Callable[[str], object]

_CACHE_LIMIT = 200_000


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
    Results are aware datetimes in UTC. Repeated strings are served from a cache.
    """

    def __init__(self, tz: tzinfo):
        self.tz = tz
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
