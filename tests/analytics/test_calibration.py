"""The recalibration (apps/analytics/survival/calibration.py): one hazard factor on the cloglog scale, learned
from held-out predictions, that moves the whole curve, the chance within the horizon and the median together."""

import numpy as np
import pytest

from apps.analytics.survival.calibration import Recalibration, fit_recalibration
from apps.analytics.survival.metrics import expected_calibration_error


def test_the_identity_changes_nothing_and_a_factor_moves_every_part_consistently():
    s = np.array([[1.0, 0.8, 0.5, 0.2]])
    assert np.allclose(Recalibration().survival(s), s)
    twice = Recalibration(a=np.log(2.0))  # every hazard doubled: S' = S²
    assert np.allclose(twice.survival(s), s**2)
    assert np.allclose(twice.probability(np.array([0.5])), [0.75])
    # the median of the corrected curve is where the raw curve falls to √0.5
    assert twice.raw_level(0.5) == pytest.approx(np.sqrt(0.5))
    assert Recalibration.from_dict(twice.as_dict()).a == pytest.approx(np.log(2.0), abs=1e-6)
    assert Recalibration.from_dict(None) is None


def test_learned_on_overconfident_predictions_it_restores_calibration_out_of_sample():
    rng = np.random.default_rng(1)
    true_hazard = rng.gamma(2.0, 0.3, 6000)
    bought = rng.random(6000) < 1.0 - np.exp(-true_hazard)
    predicted = 1.0 - np.exp(-1.8 * true_hazard)  # every hazard overstated by 80%
    learned = fit_recalibration(p_purchase=predicted, bought=bought, window_days=90.0)
    assert isinstance(learned, Recalibration)
    assert np.exp(learned.a) == pytest.approx(1 / 1.8, rel=0.1)
    report = learned.report
    assert report["ece_before"] > 0.05 and report["ece_after_crossfitted"] < 0.02
    assert expected_calibration_error(learned.probability(predicted), bought) < 0.02
    assert report["reliability_before"] and report["reliability_after_crossfitted"]


def test_too_few_customers_or_one_outcome_gives_a_reason_not_a_correction():
    assert fit_recalibration(p_purchase=np.full(50, 0.3), bought=np.zeros(50), window_days=30.0) == (
        "too_few_customers"
    )
    assert fit_recalibration(p_purchase=np.full(500, 0.3), bought=np.zeros(500), window_days=30.0) == (
        "one_outcome"
    )
