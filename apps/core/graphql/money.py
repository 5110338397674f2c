"""Money in the API: an amount with its currency, never a bare number.

Every money field (order amounts, revenue, CLV, expected revenue, spend, benefit amounts, …) is a `Money`
object `{ amount: Decimal!, currency: String! }`: `amount` is a decimal string ("199.00"), so no client rounds
it through a float; `currency` is the ISO 4217 code of the order (as stored) or of the brand (figures computed
over a brand: scores, reports, results). The brand's currency comes from apps.core.graphql.brand_values, read
once per request, so a page of 100 customers with their CLV costs no query for the currency.

Amounts given to the API (filters such as `clv: {min: 500}`, rule thresholds, benefit values) are plain
decimals in the brand's currency.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import strawberry

from apps.core.graphql.brand_values import brand_currency

CENT = Decimal("0.01")


@strawberry.type(name="Money", description="An amount of money with its currency.")
class Money:
    amount: Decimal = strawberry.field(
        description='The amount as a decimal string, e.g. "199.00" (read it as a decimal, not a float).'
    )
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. CNY.")


def money(amount, currency: str | None) -> Money | None:
    """A Money, or None when the amount (or the currency) is unknown. Floats (figures computed in numpy) are
    rounded to the cent; decimals keep their stored scale."""
    if amount is None or currency is None:
        return None
    if not isinstance(amount, Decimal):
        try:
            amount = Decimal(str(float(amount))).quantize(CENT, rounding=ROUND_HALF_UP)
        except (InvalidOperation, ValueError, TypeError, OverflowError):
            return None  # NaN or infinity: no amount to show
    if not amount.is_finite():
        return None
    return Money(amount=amount, currency=currency)


def brand_money(info, root, amount) -> Money | None:
    """`amount` in the currency of the brand of `root` (the object the field is resolved on)."""
    if amount is None:
        return None
    return money(amount, brand_currency(info, root))


__all__ = ["CENT", "Money", "brand_money", "money"]
