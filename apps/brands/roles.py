"""Roles map to Django permissions. Groups named after roles are kept in sync by `roles_sync`.

viewer  reads everything of the brand
analyst reads, and (in later features) runs analyses and refreshes
manager also edits tiers, benefits, tier links, grants, communities, customers' marketing flags, follow-up
        rules, saved segments, message templates, the contact policy, channel opt-outs and experiments (start, finish),
        manages the brand's memberships and sees customers' raw personal data (customers.view_customer_pii),
        and is the only role that sees, creates and revokes the brand's API tokens (MANAGER_ONLY)
"""

from __future__ import annotations

from functools import cache

BRAND_OWNED_MODELS = {
    "customers": ["customer", "exportjob"],
    "streams": ["stream", "streamview"],
    "orders": ["order", "orderitem"],
    "communities": ["community", "communitymembership"],
    "loyalty": ["tier", "benefit", "tierbenefit", "benefitgrant", "tierrule", "tierchange"],
    "analytics": ["modelrun", "customerscore", "prospectscore", "stagechange", "scoringconfig"],
    "engagement": [
        "contactpolicy",
        "messagetemplate",
        "followuprule",
        "touch",
        "grouppost",
        "channeloptout",
        "experiment",
        "experimentarm",
        "experimentassignment",
        "savedsegment",
    ],
}
MANAGER_EDITS = {
    "loyalty": ["tier", "benefit", "tierbenefit", "benefitgrant", "tierrule", "tierchange"],
    "customers": ["customer"],
    "communities": ["community", "communitymembership"],
    "analytics": ["scoringconfig"],
    "engagement": [
        "contactpolicy",
        "messagetemplate",
        "followuprule",
        "channeloptout",
        "experiment",
        "experimentarm",
        "savedsegment",
    ],
}

# Models only managers see at all (and add/change; there is no delete: a token is revoked, not removed).
MANAGER_ONLY = {"api": ["apitoken"]}

GROUP_NAMES = {"viewer": "Brand viewer", "analyst": "Brand analyst", "manager": "Brand manager"}


@cache
def role_permissions(role: str) -> frozenset[str]:
    """'app_label.codename' strings granted by a role."""
    perms = {f"{app}.view_{model}" for app, models in BRAND_OWNED_MODELS.items() for model in models}
    perms.add("brands.view_brand")
    if role in ("analyst", "manager"):
        perms.add("brands.view_membership")
    if role == "manager":
        for app, models in MANAGER_EDITS.items():
            for model in models:
                perms.update({f"{app}.add_{model}", f"{app}.change_{model}", f"{app}.delete_{model}"})
        perms.update(
            {
                "brands.change_brand",
                "brands.view_membership",
                "brands.add_membership",
                "brands.change_membership",
                "brands.delete_membership",
                "customers.view_customer_pii",
            }
        )
        for app, models in MANAGER_ONLY.items():
            for model in models:
                perms.update({f"{app}.view_{model}", f"{app}.add_{model}", f"{app}.change_{model}"})
    return frozenset(perms)


def role_grants(role: str, perm: str) -> bool:
    return perm in role_permissions(role)
