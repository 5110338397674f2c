"""The pure simulation: determinism, shape of the data and the survival truth it promises."""

import numpy as np
import pandas as pd
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from apps.demo.simulation import COVARIATES, DemoTruthParams, _weibull_seconds, gap_rows, simulate
from tests.demo.conftest import END, START


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    a = simulate(800, 5, START, END)
    b = simulate(800, 5, START, END)
    c = simulate(800, 6, START, END)
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key])
    assert not a["orders"].equals(c["orders"])
    assert not a["views"].equals(c["views"])


def test_frames_look_like_live_commerce(frames):
    streams, customers, orders = frames["streams"], frames["customers"], frames["orders"]
    weeks = (END - START).days / 7
    assert 3 <= len(streams) / weeks <= 6
    local_hour = streams["started_at"].dt.tz_convert("Asia/Shanghai").dt.hour
    assert (local_hour >= 19).mean() > 0.7
    hours = (streams["ended_at"] - streams["started_at"]).dt.total_seconds() / 3600
    assert hours.between(1, 4).all()
    live = customers["acquisition_channel"] == "live_stream"
    assert live.mean() > 0.3 and customers.loc[live, "acquisition_stream"].notna().all()
    assert customers["phone"].str.match(r"^13800\d{6}$").all()
    share = orders["status"].value_counts(normalize=True)
    assert 0.03 < share["refunded"] < 0.05 and 0.01 < share["cancelled"] < 0.03
    paid = orders[orders["status"] == "paid"]
    assert (paid["total_amount"] == 0).any()
    items = frames["order_items"].groupby("order")["amount"].sum().round(2)
    totals = orders.set_index("external_id")["total_amount"]
    assert np.allclose(items.reindex(totals.index), totals)
    # Funnel: many viewers never buy.
    viewers = set(frames["views"]["customer"])
    buyers = set(paid["customer"])
    assert len(buyers) < 0.7 * len(viewers)


def test_covariates_recomputed_from_stored_frames_match_the_simulation(frames, params):
    rows = gap_rows(frames["orders"], frames["views"], frames["memberships"], END, params)
    both = rows.merge(frames["purchases"], on="order", suffixes=("", "_truth"))
    assert len(both) == len(frames["purchases"])
    for column in [*COVARIATES, "purchase_number"]:
        assert np.array_equal(both[column].to_numpy(), both[f"{column}_truth"].to_numpy()), column


def test_conversion_rises_with_watch_time_and_with_five_interactions(frames):
    views = frames["views"].copy()
    bought = frames["orders"].dropna(subset=["stream"])[["customer", "stream"]].drop_duplicates()
    views = views.merge(bought.assign(converted=1), on=["customer", "stream"], how="left")
    views["converted"] = views["converted"].fillna(0)
    band = pd.cut(views["watch_seconds"], [0, 300, 1200, 3600, np.inf])
    rate = views.groupby(band, observed=True)["converted"].mean().to_numpy()
    assert np.all(np.diff(rate) > 0), rate
    interactions = views[["comments", "likes", "shares"]].sum(axis=1)
    assert (
        views.loc[interactions >= 5, "converted"].mean() > 2 * views.loc[interactions < 5, "converted"].mean()
    )


def test_community_members_churn_less(frames):
    truth = frames["customer_truth"].set_index("customer")
    members = set(frames["memberships"]["customer"])
    is_member = truth.index.isin(members)
    dead = ~truth["is_alive_at_end"]
    assert dead[is_member].mean() < dead[~is_member].mean() - 0.1


def test_cure_sampler_gives_no_return_with_probability_exp_minus_theta():
    rng = np.random.default_rng(0)
    params = DemoTruthParams()
    x = np.array([1.0, 1.0, np.log1p(2.0)])
    theta = params.c_growth * np.exp(params.beta @ x)
    draws = rng.poisson(theta, 200_000)
    assert abs((draws == 0).mean() - np.exp(-theta)) < 0.003
    # Given a return, the gap is the minimum of N Weibull draws: S(t | return) matches the cure model.
    gaps = _weibull_seconds(rng, draws[draws > 0], params.weibull_scale_days, params.weibull_shape) / 86_400
    t = 30.0
    cdf = 1 - np.exp(-((t / params.weibull_scale_days) ** params.weibull_shape))
    expected = (np.exp(-theta * cdf) - np.exp(-theta)) / (1 - np.exp(-theta))
    assert abs((gaps > t).mean() - expected) < 0.005


@pytest.mark.parametrize("stage", ["growth"])
def test_cox_on_gap_rows_recovers_the_hazard_ratios(big_frames, params, stage):
    rows = gap_rows(big_frames["orders"], big_frames["views"], big_frames["memberships"], END, params)
    rows = rows[rows["stage"] == stage]
    assert len(rows) > 5000
    y = Surv.from_arrays(rows["event"].astype(bool), rows["duration_days"].clip(lower=1e-6))
    model = CoxPHSurvivalAnalysis(ties="efron").fit(rows[list(COVARIATES)].to_numpy(float), y)
    truth = np.array([params.hr_community_member, params.hr_engaged_5plus, params.hr_log_watch_hours_30d])
    recovered = np.exp(model.coef_)
    assert np.all(np.abs(recovered - truth) <= 0.15 * truth), recovered
