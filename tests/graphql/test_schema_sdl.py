"""The committed SDL (schema.graphql) is what frontend developers build against: it must match the schema."""

from pathlib import Path

from strawberry.printer import print_schema

from clvsite.schema import schema

SDL = Path(__file__).resolve().parents[2] / "schema.graphql"
UPDATE = "python manage.py export_schema clvsite.schema --path schema.graphql"


def test_committed_sdl_matches_the_schema():
    committed = SDL.read_text(encoding="utf-8")
    current = print_schema(schema)
    assert committed.strip() == current.strip(), (
        f"The GraphQL schema changed. If the change is intended, run `{UPDATE}` and commit schema.graphql "
        "(and tell the frontend developers)."
    )


def test_the_sdl_serves_every_domain_the_api_promises():
    sdl = SDL.read_text(encoding="utf-8")
    for node in (
        "Brand",
        "Customer",
        "Stream",
        "StreamView",
        "Order",
        "Community",
        "Tier",
        "Benefit",
        "BenefitGrant",
        "ModelRun",
    ):
        assert f"type {node} implements Node" in sdl, node
        assert f"type {node}Connection" in sdl or node == "Brand", node
