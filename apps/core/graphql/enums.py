"""GraphQL enums for closed sets of codes: a field or argument whose values are fixed (a status, a channel, a
stage, an RFM segment, …) is an enum, so clients see the allowed values in the schema and a wrong one is
refused by GraphQL validation before anything runs.

The enum's member names are the upper-case names (PAID, LIVE_STREAM), its values the stored codes ("paid",
"live_stream"): resolvers return `Enum(code)`, filters use `member.value`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

import strawberry


def choices_enum(choices, name: str, description: str):
    """A GraphQL enum with the members of a Django TextChoices."""
    return strawberry.enum(Enum(name, {m.name: m.value for m in choices}), name=name, description=description)


def codes_enum(codes: Iterable[str], name: str, description: str):
    """A GraphQL enum whose member names are the codes in upper case."""
    return strawberry.enum(Enum(name, {c.upper(): c for c in codes}), name=name, description=description)


def enum_or_none(enum_cls, code):
    """The member for a stored code; None for an empty or missing one."""
    return enum_cls(code) if code else None


def enum_codes(values) -> list[str]:
    """The stored codes of a list of enum members (an input's list argument)."""
    return [v.value if isinstance(v, Enum) else v for v in values]


__all__ = ["choices_enum", "codes_enum", "enum_codes", "enum_or_none"]
