"""The import contract in pyproject.toml ([tool.importlinter], checked by `lint-imports` in scripts/test.sh)
only means something if every module is on one side of it: each module of apps/ is either below the
surfaces (a source of the "surfaces-on-top" contract, which may not import a surface) or a surface."""

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["id"] == contract_id)


def _modules() -> list[str]:
    names = []
    for path in (ROOT / "apps").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts or parts[-1] == "__init__":
            continue
        names.append(".".join(parts))
    return sorted(names)


def _covered(module: str, expressions: list[str]) -> bool:
    """A module is covered by an expression naming it or a package above it (`*` is one name)."""
    parts = module.split(".")
    prefixes = [".".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(
        fnmatchcase(prefix, expr) and prefix.count(".") == expr.count(".")
        for expr in expressions
        for prefix in prefixes
    )


def test_every_module_is_a_surface_or_below_the_surfaces():
    contract = _contract("surfaces-on-top")
    below, surfaces = contract["source_modules"], contract["forbidden_modules"]
    unclassified = [m for m in _modules() if not _covered(m, below) and not _covered(m, surfaces)]
    # the apps' AppConfig modules wire signals and checks at start-up: surfaces in all but name
    unclassified = [m for m in unclassified if not m.endswith(".apps")]
    assert unclassified == [], f"add these modules to a side of the surfaces-on-top contract: {unclassified}"
    both = [m for m in _modules() if _covered(m, below) and _covered(m, surfaces)]
    assert both == []


def test_the_classification_sees_a_new_module():
    assert not _covered("apps.customers.recommendations", _contract("surfaces-on-top")["source_modules"])
    assert _covered("apps.customers.graphql.inputs", _contract("surfaces-on-top")["forbidden_modules"])
    assert _covered("apps.analytics.survival.engine", _contract("surfaces-on-top")["source_modules"])
