"""Run inside a Django process set up on a demo database (see test_embedded_demo.py): call every GraphQL query
of the README with an API token, as a frontend would, and build every dashboard section; print one JSON
line saying, per report, whether it returned data and any error. Not a test module: a child process runs it."""

import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clvsite.settings.local")
django.setup()

from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.analytics.dashboard.sections import dashboard_context  # noqa: E402
from apps.api.services import api_token_create  # noqa: E402
from apps.brands.models import Brand  # noqa: E402


def readme_queries() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```graphql\n(.*?)```", text, flags=re.S)
    return {re.match(r"query (\w+)", block).group(1): block for block in blocks if block.startswith("query ")}


def main(slug: str) -> dict:
    brand = Brand.objects.get(slug=slug)
    _token, plaintext = api_token_create(brand=brand, role="manager", name="embedded demo probe")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    def run(query: str, **variables) -> dict:
        response = client.post(
            "/graphql/", {"query": query, "variables": variables}, content_type="application/json"
        )
        return {"status": response.status_code, **response.json()}

    brand_id = run("{ brands { id } }")["data"]["brands"][0]["id"]
    queries = readme_queries()
    found: dict[str, dict] = {}
    at_risk = run(queries["AtRiskHighValue"])
    edges = (at_risk.get("data") or {}).get("customers", {}).get("edges", [])
    found["customers (AtRiskHighValue)"] = {"rows": len(edges), "errors": at_risk.get("errors")}
    if edges:
        one = run(queries["Customer360"], id=edges[0]["node"]["id"])
        customer = (one.get("data") or {}).get("customer") or {}
        found["customer (Customer360)"] = {
            "rows": len(customer.get("survivalCurve") or []) and len(customer.get("hazardFactors") or []),
            "errors": one.get("errors"),
        }
    end = timezone.now().astimezone(brand.tzinfo).date()
    analytics = run(
        queries["BrandAnalytics"], brand=brand_id, **{"from": str(end - timedelta(days=60)), "to": str(end)}
    )
    data = analytics.get("data") or {}
    found["tierStageDistribution"] = {"rows": len((data.get("tierStageDistribution") or {}).get("cells", []))}
    found["kaplanMeier"] = {"rows": len((data.get("kaplanMeier") or {}).get("curves", []))}
    found["cohortRetention"] = {"rows": len((data.get("cohortRetention") or {}).get("cohorts", []))}
    found["streamPerformance"] = {"rows": len((data.get("streamPerformance") or {}).get("streams", []))}
    found["atRiskCustomers"] = {"rows": len((data.get("atRiskCustomers") or {}).get("customers", []))}
    for key in (
        "tierStageDistribution",
        "kaplanMeier",
        "cohortRetention",
        "streamPerformance",
        "atRiskCustomers",
    ):
        found[key]["errors"] = analytics.get("errors")
    followups = run(queries["FollowupResults"], brand=brand_id)
    data = followups.get("data") or {}
    results = (data.get("followupResults") or {}).get("total") or {}
    found["followupResults (FollowupResults)"] = {
        "rows": min(results.get("treated") or 0, results.get("control") or 0)
        and (data.get("touches") or {}).get("totalCount", 0)
        and len((data.get("groupPosts") or {}).get("edges", [])),
        "errors": followups.get("errors"),
    }
    experiments = run(
        queries["ExperimentsAndFunnel"],
        brand=brand_id,
        **{"from": str(end - timedelta(days=90)), "to": str(end)},
    )
    data = experiments.get("data") or {}
    coupon = data.get("experimentResults") or {}
    found["experimentResults (ExperimentsAndFunnel)"] = {
        "rows": len(data.get("experiments") or [])
        and (coupon.get("arms") or {}).get("coupon", {}).get("n", 0),
        "errors": experiments.get("errors"),
    }
    found["streamFunnel (ExperimentsAndFunnel)"] = {
        "rows": (data.get("streamFunnel") or [{}])[-1].get("buyers", 0),
        "errors": experiments.get("errors"),
    }
    if edges:
        found["customer next action and recommendations (Customer360)"] = {
            "rows": bool(customer.get("nextAction"))
            and len((customer.get("recommendations") or {}).get("products") or []),
            "errors": one.get("errors"),
        }
    context = dashboard_context(brand)
    for key in ("distribution", "cohorts", "survival", "gmv", "repurchase", "streams"):
        section = context[key]
        found[f"dashboard: {key}"] = {
            "rows": len(section.rows),
            "note": str(section.note),
            "chart": bool(section.chart),
        }
    found["dashboard: at_risk"] = {"rows": len(context["at_risk"].rows), "note": str(context["at_risk"].note)}
    found["dashboard: latest_run"] = {
        "rows": len(context["latest_run"].rows),
        "note": str(context["latest_run"].note),
    }
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1]), default=str))
