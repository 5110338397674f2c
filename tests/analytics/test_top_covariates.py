"""engine.top_covariates: each row's strongest covariates under its stage's Cox-family model, vectorised,
equal to the per-customer computation (|β · (x − mean) / sd|, strongest first)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from apps.analytics.survival.engine import Engine, StageFit, top_covariates
from apps.analytics.survival.models import KAPLAN_MEIER, SurvivalModel
from apps.analytics.survival.stages import StageRules


def _model(kind, features, coef=None, center=None, scale=None):
    n = len(features)
    return SurvivalModel(
        kind=kind,
        features=tuple(features),
        dropped_features=(),
        center=np.asarray(center if center is not None else np.zeros(n), float),
        scale=np.asarray(scale if scale is not None else np.ones(n), float),
        n_samples=100,
        n_events=50,
        coef=None if coef is None else np.asarray(coef, float),
    )


def _engine(stages):
    return Engine(
        rules=StageRules(),
        estimator="coxph",
        params={},
        brand_rhythm=30.0,
        features=["a", "b", "c", "d", "e", "f", "g"],
        stages={name: StageFit(name, 100, 50, model.kind, model) for name, model in stages.items()},
    )


def test_rows_get_their_own_stage_models_strongest_covariates_in_order():
    rng = np.random.default_rng(3)
    features = ["a", "b", "c", "d", "e", "f", "g"]
    X = pd.DataFrame(rng.normal(size=(200, 7)), columns=features)
    growth = _model("coxph", features, rng.normal(size=7), rng.normal(size=7), rng.uniform(0.5, 2, 7))
    maturity = _model("coxnet", ["g", "a", "c"], [0.5, -2.0, 1.0], [0.1, 0.2, 0.3], [1.0, 2.0, 0.5])
    km = _model(KAPLAN_MEIER, [])
    engine = _engine({"growth": growth, "maturity": maturity, "decline": km})
    stages = rng.choice(["growth", "maturity", "decline", "churned"], size=200)

    index, value, log_ratio = top_covariates(engine, X, stages, top=5)

    assert index.shape == value.shape == log_ratio.shape == (200, 5)
    for i, stage in enumerate(stages):
        model = {"growth": growth, "maturity": maturity}.get(stage)
        if model is None:  # Kaplan-Meier, or no model for the stage
            assert (index[i] == -1).all()
            continue
        x = X.loc[i, list(model.features)].to_numpy(float)
        ratios = model.coef * (x - model.center) / model.scale
        expected = sorted(range(len(ratios)), key=lambda j: -abs(ratios[j]))[:5]
        kept = [j for j in index[i] if j >= 0]
        assert kept == expected
        assert np.allclose(value[i, : len(kept)], x[kept])
        assert np.allclose(log_ratio[i, : len(kept)], ratios[kept])
        assert (index[i, len(kept) :] == -1).all()  # maturity's model has 3 covariates, not 5


def test_a_covariate_with_no_finite_ratio_is_left_out_and_a_classic_engine_keeps_none():
    features = ["a", "b"]
    X = pd.DataFrame({"a": [1.0, np.inf], "b": [3.0, 3.0]})
    engine = _engine({"growth": _model("coxph", features, [1.0, 0.5])})
    index, value, _ = top_covariates(engine, X, np.array(["growth", "growth"]), top=5)
    assert index[0].tolist() == [1, 0, -1, -1, -1]  # |0.5 · 3| = 1.5 before |1 · 1| = 1
    assert index[1].tolist() == [1, -1, -1, -1, -1] and value[1, 0] == 3.0

    class Classic:  # a thin brand's engine: no stage models
        pass

    index, _, _ = top_covariates(Classic(), X, np.array(["growth", "growth"]))
    assert (index == -1).all()
