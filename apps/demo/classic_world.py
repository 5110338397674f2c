"""A world of classic shapes, for tests and demos: purchases drawn from a BG/NBD or Pareto/NBD process, the
shapes real purchase logs have and the live-commerce generator (simulation.py) rarely makes.

- one acquisition cohort: every customer's first purchase falls in the first `cohort_days` days;
- mostly one-time buyers (a purchase rate λ ~ Gamma(r, α) with a small shape r);
- same-day repeat orders (`same_day_share` of the purchase days have a second order);
- optionally no amounts at all (every order 0, as a log with times only is imported); else spend per order
  from the Gamma-Gamma model (z ~ Gamma(p, ν), ν ~ Gamma(q, γ)).

Times are in days; rates per day. The true parameters are stored with the demo's truths. Same inputs, same
frames. Nothing here touches the database (apps.demo.services writes the frames).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

DAY = 86400


@dataclass(frozen=True)
class ClassicWorldParams:
    process: str = "bgnbd"  # or "pareto_nbd"
    r: float = 0.25
    alpha: float = 60.0  # days: mean rate r / alpha per day among the living (most customers buy once)
    a: float = 0.8  # BG/NBD dropout after a purchase, p ~ Beta(a, b)
    b: float = 2.5
    s: float = 0.6  # Pareto/NBD lifetime rate μ ~ Gamma(s, β)
    beta: float = 120.0
    cohort_days: int = 90
    same_day_share: float = 0.1
    amounts: bool = True
    spend_p: float = 6.0
    spend_q: float = 4.0
    spend_gamma: float = 100.0
    currency: str = "CNY"

    def to_json(self) -> dict:
        return {"world": "classic", **asdict(self)}


def _purchase_days(rng, params: ClassicWorldParams, first: np.ndarray, horizon: float) -> list[np.ndarray]:
    """Each customer's purchase times (days from the period start), the first included, up to `horizon`."""
    n = first.size
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    times = [[t] for t in first]
    now = first.astype(float).copy()
    if params.process == "bgnbd":
        drop = rng.beta(params.a, params.b, n)
        alive = np.ones(n, bool)  # BG/NBD: a customer drops out only after a repeat purchase
        while alive.any():
            idx = np.flatnonzero(alive)
            now[idx] += rng.exponential(1.0 / lam[idx])
            bought = idx[now[idx] <= horizon]
            for i in bought:
                times[i].append(now[i])
            alive[idx] = now[idx] <= horizon
            alive[bought] &= rng.random(bought.size) >= drop[bought]
    elif params.process == "pareto_nbd":
        mu = rng.gamma(params.s, 1.0 / params.beta, n)
        death = first + rng.exponential(1.0 / mu)
        alive = np.ones(n, bool)
        while alive.any():
            idx = np.flatnonzero(alive)
            now[idx] += rng.exponential(1.0 / lam[idx])
            ok = (now[idx] <= horizon) & (now[idx] <= death[idx])
            for i in idx[ok]:
                times[i].append(now[i])
            alive[idx] = ok
    else:
        raise ValueError(f"unknown process: {params.process}")
    return [np.asarray(t) for t in times]


def simulate_classic(
    n_customers: int, seed: int, start, end, params: ClassicWorldParams | None = None
) -> dict:
    """Frames keyed as simulation.simulate's (customers, orders, order_items, customer_truth and empty streams,
    views, communities, memberships, grants), so apps.demo.services writes them the same way."""
    params = params or ClassicWorldParams()
    start = pd.Timestamp(start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = pd.Timestamp(end)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    horizon = (end - start).total_seconds() / DAY
    if horizon <= 0:
        raise ValueError("end must be after start")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    first = rng.uniform(0.0, min(params.cohort_days, horizon * 0.999), n_customers)
    purchases = _purchase_days(rng, params, first, horizon * 0.999)
    ids = np.array([f"K{i + 1:06d}" for i in range(n_customers)], dtype=object)
    per_customer = np.array([p.size for p in purchases])
    customer = np.repeat(ids, per_customer)
    day = np.concatenate(purchases)
    # a second order on the same day for some purchase days (minutes apart)
    twin = rng.random(day.size) < params.same_day_share
    customer = np.concatenate([customer, customer[twin]])
    day = np.concatenate([day, day[twin] + rng.uniform(5, 120, twin.sum()) / 1440.0])
    day = np.minimum(day, horizon * 0.9999)
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]
    if params.amounts:
        nu = rng.gamma(params.spend_q, 1.0 / params.spend_gamma, n_customers)
        rate = pd.Series(nu, index=ids).reindex(customer).to_numpy()
        amount = np.round(rng.gamma(params.spend_p, 1.0 / rate), 2)
    else:
        nu = np.full(n_customers, np.nan)
        amount = np.zeros(day.size)
    placed = start + pd.to_timedelta(np.round(day * DAY), unit="s")
    order_ids = np.array([f"KO{i + 1:07d}" for i in range(day.size)], dtype=object)
    orders = pd.DataFrame(
        {
            "external_id": order_ids,
            "customer": customer,
            "placed_at": placed,
            "status": "paid",
            "total_amount": amount,
            "currency": params.currency,
            "channel": "other",
            "stream": pd.Series([None] * day.size, dtype=object),
        }
    )
    items = pd.DataFrame(
        {
            "order": order_ids,
            "line_no": 1,
            "sku": "SKU-1",
            "category": "",
            "quantity": 1,
            "unit_price": amount,
            "amount": amount,
        }
    )
    first_seen = start + pd.to_timedelta(np.round(first * DAY), unit="s")
    customers = pd.DataFrame(
        {
            "external_id": ids,
            "display_name": "",
            "phone": "",
            "gender": "unknown",
            "birth_year": rng.integers(1970, 2005, n_customers),
            "province": "",
            "city": "",
            "acquisition_channel": "other",
            "acquisition_stream": pd.Series([None] * n_customers, dtype=object),
            "first_seen_at": first_seen,
            "marketing_consent": False,
            "automated_decisions_opt_out": False,
            "preferred_touch_channel": "",
        }
    )
    utc = "datetime64[ns, UTC]"
    truth = pd.DataFrame(
        {
            "customer": ids,
            "is_alive_at_end": np.zeros(n_customers, bool),  # not tracked per customer in this world
            "died_at": pd.Series([pd.NaT] * n_customers, dtype=utc),
            "spend_level": np.round(np.nan_to_num(params.spend_p / nu, nan=0.0), 2),
            "view_propensity": np.zeros(n_customers),
        }
    )
    empty = {
        "streams": pd.DataFrame(
            {
                "external_id": pd.Series([], dtype=object),
                "title": pd.Series([], dtype=object),
                "host_name": pd.Series([], dtype=object),
                "platform": pd.Series([], dtype=object),
                "category": pd.Series([], dtype=object),
                "started_at": pd.Series([], dtype=utc),
                "ended_at": pd.Series([], dtype=utc),
            }
        ),
        "views": pd.DataFrame(
            {
                "stream": pd.Series([], dtype=object),
                "customer": pd.Series([], dtype=object),
                "joined_at": pd.Series([], dtype=utc),
                **{
                    c: pd.Series([], dtype=np.int64) for c in ("watch_seconds", "comments", "likes", "shares")
                },
            }
        ),
        "communities": pd.DataFrame(
            {
                "external_id": pd.Series([], dtype=object),
                "name": pd.Series([], dtype=object),
                "kind": pd.Series([], dtype=object),
                "opened_at": pd.Series([], dtype=utc),
            }
        ),
        "memberships": pd.DataFrame(
            {
                "community": pd.Series([], dtype=object),
                "customer": pd.Series([], dtype=object),
                "joined_at": pd.Series([], dtype=utc),
                "left_at": pd.Series([], dtype=utc),
                "activity_count": pd.Series([], dtype=np.int64),
            }
        ),
        "grants": pd.DataFrame(
            {
                "benefit_code": pd.Series([], dtype=object),
                "customer": pd.Series([], dtype=object),
                "granted_at": pd.Series([], dtype=utc),
                "expires_at": pd.Series([], dtype=utc),
                "redeemed_at": pd.Series([], dtype=utc),
                "source": pd.Series([], dtype=object),
                "note": pd.Series([], dtype=object),
            }
        ),
    }
    return {
        "customers": customers,
        "orders": orders,
        "order_items": items,
        "customer_truth": truth,
        "purchases": orders[["customer", "placed_at"]].copy(),
        **empty,
    }
