"""Whole GraphQL responses of the apps' list screens and reports, cached per brand and read version.

A brand's reads change only when its data arrive, a run is published or staff change what the version cannot
see (apps/analytics/readcache.py: the published run, the data version and a generation that edits, erasures
and publishes move on). So an app's request that reads only such data, asked again under the same version, is
answered with the response computed the first time, without running the query: the token check, one query
for the version and one cache round trip.

What may be answered so (`plan`): a query (never a mutation) of an API token, whose root fields are all in
ROOTS (the customer list and the reports) and whose customer fields are all in CUSTOMER_FIELDS (the
customer's own columns and the published scores; not their orders, views, communities, grants or next
action, which change without a new version), which reads no field of UNVERSIONED_TYPES (a tier's benefits),
with no input field of UNVERSIONED_INPUTS set (a community
filter: memberships change without one). The key holds the brand, its read version and its day in the
brand's time zone (what depends on today), the token's role (what it may see), the language, and the
document, operation and variables. Only a 200 without errors is kept, for READS_SECONDS at most.

Responses may hold personal data (external ids, a manager's unmasked phone), so they are kept encrypted
(AES-GCM) under readcache.generation_secret: the key of the brand's read generation, deleted when the
generation moves on. An erasure moves it, so nothing an erased person's responses held can be read back from
the cache afterwards, not even from a copy of its memory.

A response says what happened in its X-Response-Cache header: `hit` (answered from the cache), `miss` (computed
and kept); none when the request may not be answered so.

Off with GRAPHQL_RESPONSE_CACHE=False, or with the cache (CACHE_URL=dummycache://).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation
from graphql import (
    FieldNode,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    ObjectFieldNode,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    parse,
    visit,
)
from graphql.error import GraphQLError
from graphql.utilities import type_from_ast

logger = logging.getLogger(__name__)

PREFIX = "clv:reads:response"
HEADER = (
    "X-Response-Cache"  # "hit": answered from the cache; "miss": computed and kept; absent: not cacheable
)
PLAN_MAX_TOKENS = 5000  # a longer document is never cached (nor parsed further here)

# root fields whose results depend only on the brand's read version (and today): the list and the reports
ROOTS = frozenset(
    {
        "customers",
        "tierStageDistribution",
        "kaplanMeier",
        "cohortRetention",
        "streamPerformance",
        "stageTransitionMatrix",
        "atRiskCustomers",
    }
)
# a customer's fields that read its own row and the published scores only (a publish, a saved or erased
# customer, new orders and views move the version; a tier's name is forgotten when the tier is saved)
CUSTOMER_FIELDS = frozenset(
    {
        "__typename",
        "id",
        "externalId",
        "province",
        "city",
        "firstSeenAt",
        "marketingConsent",
        "automatedDecisionsOptOut",
        "erasedAt",
        "gender",
        "ageBand",
        "acquisitionChannel",
        "preferredTouchChannel",
        "displayName",
        "phone",
        "email",
        "phoneMasked",
        "lastOrderAt",
        "scoresAsOf",
        "horizonDays",
        "stage",
        "prospectPropensity",
        "stageRule",
        "tier",
        "rfmSegment",
        "rfmSegmentLabel",
        "rfmRecency",
        "rfmFrequency",
        "rfmMonetary",
        "churnProbability",
        "pPurchaseHorizon",
        "expectedRevenueHorizon",
        "clv",
        "medianDaysToNextPurchase",
        "expectedNextOrderOn",
        "rhythmDays",
        "paidOrders",
        "totalSpend",
        "daysSinceLastPurchase",
        "survivalCurve",
        "hazardFactors",
        "stageHistory",
        "recommendations",
    }
)
# types whose rows change without a new version, wherever a cacheable root reaches them (a tier's benefits and
# quotas under `tier { tierBenefits }`, say): a document that reads any of their fields always runs
UNVERSIONED_TYPES = frozenset(
    {
        "TierBenefit",
        "Benefit",
        "BenefitGrant",
        "Order",
        "OrderItem",
        "StreamView",
        "Community",
        "CommunityMembership",
        "Touch",
        "NextAction",
        "Experiment",
    }
)
# input fields that filter on what changes without a new version (community memberships)
UNVERSIONED_INPUTS = frozenset({("CustomerFilter", "community")})


@dataclass(frozen=True)
class Plan:
    """Whether a document's operation may be answered from the cache, and which of its variables hold input
    objects to look into (name → input type)."""

    cacheable: bool
    input_variables: tuple = ()


NOT_CACHEABLE = Plan(False)


def enabled() -> bool:
    return getattr(settings, "GRAPHQL_RESPONSE_CACHE", True)


class _Walk(Visitor):
    def __init__(self, type_info: TypeInfo):
        super().__init__()
        self.type_info = type_info
        self.refused = False
        self.roots = 0

    def enter_field(self, node: FieldNode, *_args):
        parent = self.type_info.get_parent_type()
        name = node.name.value
        parent_name = getattr(parent, "name", None)
        if parent_name == "Query":
            if name == "__typename":
                return None
            self.roots += 1
            if name not in ROOTS:
                self.refused = True
        elif (
            parent_name == "Customer"
            and name not in CUSTOMER_FIELDS
            or parent_name in UNVERSIONED_TYPES
            or name in ("__schema", "__type")
        ):
            self.refused = True
        return None

    def enter_object_field(self, node: ObjectFieldNode, *_args):
        parent = self.type_info.get_parent_input_type()
        if (getattr(parent, "name", None), node.name.value) in UNVERSIONED_INPUTS:
            self.refused = True


@functools.lru_cache(maxsize=256)
def plan(graphql_schema, query: str, operation_name: str | None) -> Plan:
    """The plan of a document's operation in `graphql_schema` (graphql-core's; parsed and walked once per
    document text)."""
    try:
        # the planner's own bound: the schema's limits run later, and a document past them never runs
        document = parse(query, max_tokens=PLAN_MAX_TOKENS)
    except (GraphQLError, RecursionError):
        return NOT_CACHEABLE
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return NOT_CACHEABLE
    type_info = TypeInfo(graphql_schema)
    walk = _Walk(type_info)
    try:
        visit(document, TypeInfoVisitor(type_info, walk))
    except RecursionError:
        return NOT_CACHEABLE
    if walk.refused or walk.roots == 0:
        return NOT_CACHEABLE
    inputs = []
    for definition in operations[0].variable_definitions or ():
        var_type = type_from_ast(graphql_schema, definition.type)
        if var_type is not None and _holds_input_object(var_type):
            inputs.append((definition.variable.name.value, var_type))
    return Plan(True, tuple(inputs))


def _holds_input_object(var_type) -> bool:
    while isinstance(var_type, GraphQLNonNull | GraphQLList):
        var_type = var_type.of_type
    return isinstance(var_type, GraphQLInputObjectType)


def _uses_unversioned(value, var_type) -> bool:
    """True when a variable's value sets an input field of UNVERSIONED_INPUTS, at any depth."""
    if value is None:
        return False
    if isinstance(var_type, GraphQLNonNull):
        return _uses_unversioned(value, var_type.of_type)
    if isinstance(var_type, GraphQLList):
        items = value if isinstance(value, list) else [value]
        return any(_uses_unversioned(item, var_type.of_type) for item in items)
    if isinstance(var_type, GraphQLInputObjectType) and isinstance(value, dict):
        for name, field_value in value.items():
            if field_value is None:
                continue
            if (var_type.name, name) in UNVERSIONED_INPUTS:
                return True
            field = var_type.fields.get(name)
            if field is not None and _uses_unversioned(field_value, field.type):
                return True
    return False


@dataclass(frozen=True)
class Slot:
    """Where a request's response is kept: the cache key and the generation secret that encrypts it."""

    key: str
    secret: bytes


def slot_for(request, data, graphql_schema) -> Slot | None:
    """The cache slot of a token's request, or None when it must run (not cacheable, cache off or down)."""
    from apps.analytics.readcache import generation_secret, reads_version

    principal = request.user
    token = getattr(principal, "api_token", None)
    if token is None or not enabled() or not isinstance(data.query, str):
        return None
    operation_name = data.operation_name if isinstance(data.operation_name, str) else None
    variables = data.variables or {}
    if not isinstance(variables, dict):
        return None
    found = plan(graphql_schema, data.query, operation_name)
    if not found.cacheable:
        return None
    for name, var_type in found.input_variables:
        if _uses_unversioned(variables.get(name), var_type):
            return None
    brand = token.brand
    version = reads_version(brand_id=brand.pk)
    if version is None:
        return None
    secret = generation_secret(brand_id=brand.pk, generation=version.rsplit(".g", 1)[1])
    if secret is None:
        return None
    day = timezone.now().astimezone(brand.tzinfo).date().isoformat()
    try:
        request_text = json.dumps(
            [data.query, operation_name, variables], sort_keys=True, ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(request_text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    language = translation.get_language() or settings.LANGUAGE_CODE
    return Slot(f"{PREFIX}:{brand.pk}:{version}:{day}:{token.role}:{language}:{digest}", secret)


def _cipher(secret: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(secret)


def response_get(slot: Slot) -> bytes | None:
    """The body kept in the slot, or None (never kept, expired, or its generation's secret is gone)."""
    from cryptography.exceptions import InvalidTag

    try:
        sealed = cache.get(slot.key)
    except Exception:
        logger.warning("response cache unavailable", exc_info=True)
        return None
    if not sealed or len(sealed) < 13:
        return None
    try:
        return _cipher(slot.secret).decrypt(sealed[:12], sealed[12:], slot.key.encode())
    except InvalidTag:
        return None


def response_put(slot: Slot, body: bytes) -> None:
    """Keep a response's body in its slot, encrypted (errors of the cache are logged, never raised)."""
    from apps.analytics.readcache import READS_SECONDS

    nonce = os.urandom(12)
    sealed = nonce + _cipher(slot.secret).encrypt(nonce, body, slot.key.encode())
    try:
        cache.set(slot.key, sealed, READS_SECONDS)
    except Exception:
        logger.warning("response cache unavailable", exc_info=True)
