import pandas as pd
import pytest

from apps.demo.simulation import DemoTruthParams, simulate

START = pd.Timestamp("2025-01-01", tz="UTC")
END = pd.Timestamp("2026-07-01", tz="UTC")


@pytest.fixture(scope="session")
def params():
    return DemoTruthParams()


@pytest.fixture(scope="session")
def frames(params):
    """A few thousand customers, shared by the statistical checks."""
    return simulate(4000, 11, START, END, params)


@pytest.fixture(scope="session")
def big_frames(params):
    """Enough customers for the hazard-ratio recovery to be stable."""
    return simulate(20000, 7, START, END, params)
