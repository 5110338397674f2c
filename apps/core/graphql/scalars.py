"""Date and Decimal inputs within the ranges the product can compute with.

strawberry's scalars take any value Python can parse: `9999-12-31` (a report's end day, one day past which
overflows Python's dates), `1e999999` or `NaN` as an amount (which PostgreSQL's numeric columns cannot compare
with). Those reached the database or the date arithmetic and came back as "Unexpected error.". The scalars here
parse the same formats, with the same names and descriptions (the SDL does not change), and refuse a value
outside the range with a message apps.core.graphql.errors rewords for the caller ("… is outside …").

DateTime keeps strawberry's scalar: the ingest mutations judge each item's instants against the brand's own
plausible range and name the item (apps.core.importing), which a refusal of the whole request would not.
"""

from __future__ import annotations

import datetime as dt
import decimal

from graphql import value_from_ast_untyped
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2199, 12, 31)
DECIMAL_LIMIT = decimal.Decimal(10) ** 15  # above any amount or CLV of a brand (and below numeric(18, 2)'s)

# the range of each type, as apps.core.graphql.errors shows it
RANGES = {
    "Date": f"{DATE_MIN.isoformat()} … {DATE_MAX.isoformat()}",
    "Decimal": "-10^15 … 10^15",
}


def _not_a(type_name: str, value: object) -> StrawberryInputCoercionError:
    return StrawberryInputCoercionError(f'Value cannot represent a {type_name}: "{value}".')


def _out_of_range(type_name: str, value: object) -> StrawberryInputCoercionError:
    return StrawberryInputCoercionError(f'Value is out of range for a {type_name}: "{value}".')


def parse_date(value: object) -> dt.date:
    if not isinstance(value, str):
        raise _not_a("Date", value)
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        raise _not_a("Date", value) from None
    if not DATE_MIN <= parsed <= DATE_MAX:
        raise _out_of_range("Date", value)
    return parsed


def parse_decimal(value: object) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _not_a("Decimal", value)
    try:
        parsed = decimal.Decimal(str(value))
    except decimal.DecimalException:
        raise _not_a("Decimal", value) from None
    if not parsed.is_finite() or abs(parsed) >= DECIMAL_LIMIT:
        raise _out_of_range("Decimal", value)
    return parsed


def _literal(parse):
    """parse_literal for a value written in the document: the same parser, its refusal raised as a plain
    ValueError so that graphql-core's validation reports it with the value's location (it reports its own
    GraphQLErrors without one), which apps.core.graphql.errors words as for a variable."""

    def parse_literal(node, variables=None):
        try:
            return parse(value_from_ast_untyped(node, variables))
        except StrawberryInputCoercionError as exc:
            raise ValueError(exc.message) from None

    return parse_literal


def _isoformat(value) -> str:
    return value.isoformat()


SCALAR_OVERRIDES = {
    dt.date: ScalarDefinition(
        name="Date",
        description="Date (isoformat)",
        specified_by_url=None,
        serialize=_isoformat,
        parse_value=parse_date,
        parse_literal=_literal(parse_date),
        origin=dt.date,
    ),
    decimal.Decimal: ScalarDefinition(
        name="Decimal",
        description="Decimal (fixed-point)",
        specified_by_url=None,
        serialize=str,
        parse_value=parse_decimal,
        parse_literal=_literal(parse_decimal),
        origin=decimal.Decimal,
    ),
}
