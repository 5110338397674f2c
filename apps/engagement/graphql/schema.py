"""Root query and mutation fields of the action layer, merged into clvsite.schema.

Reads: any member of the brand. Writes (rules, templates, the contact policy, planning, opt-outs): the manager
role; each calls the service the admin and the commands call. A row of another brand is "not found".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import strawberry
from django.utils.translation import gettext
from strawberry import UNSET, relay
from strawberry.scalars import JSON
from strawberry.types import Info

from apps.analytics.graphql.types import Stage
from apps.core.graphql.enums import enum_or_none
from apps.core.graphql.money import money
from apps.core.graphql.mutations import ClientError, brand_for, client_errors, scoped_get
from apps.core.graphql.permissions import request_user
from apps.core.graphql.relay import Connection, connection, node_pk
from apps.engagement import models, planning, results, selectors, services
from apps.engagement.graphql.types import (
    ArmTreatment,
    Audience,
    Channel,
    Comparison,
    ComparisonReason,
    ContactPolicyType,
    Dimension,
    ExperimentMetric,
    ExperimentStatus,
    FollowupRuleType,
    Gateway,
    GroupPostType,
    Language,
    MessageTemplateType,
    Plan,
    PlanRule,
    ReasonCount,
    Results,
    SendHourEvidence,
    TouchReason,
    TouchStatus,
    TouchType,
    Trigger,
)

MANAGER, VIEWER = "manager", "viewer"


@strawberry.type(description="One arm of an experiment.")
class ExperimentArmType:
    code: str
    name: str
    is_control: bool
    share: int = strawberry.field(description="Traffic share, percent.")
    treatment: ArmTreatment
    customers: int = strawberry.field(description="Customers assigned.")


@strawberry.type(name="Experiment", description="A randomised test of benefits or follow-up rules.")
class ExperimentType:
    code: str
    name: str
    hypothesis: str
    status: ExperimentStatus
    starts_at: dt.datetime
    ends_at: dt.datetime
    primary_metric: ExperimentMetric
    secondary_metrics: list[ExperimentMetric]
    window_days: int
    arms: list[ExperimentArmType]
    brand_id: strawberry.Private[int]


def _given(data) -> dict:
    """The fields of an input that were given, enums as their codes."""
    out = {}
    for name, value in vars(data).items():
        if value is UNSET:
            continue
        if isinstance(value, list):
            value = [getattr(v, "value", v) for v in value]
        out[name] = getattr(value, "value", value)
    return out


@strawberry.input(description="A follow-up rule. Conditions left out match everyone.")
class FollowupRuleInput:
    name: str
    template: relay.GlobalID
    channels: list[Channel]
    trigger: Trigger = Trigger.STREAM_END
    audience: Audience = Audience.VIEWERS
    priority: int = 100
    is_active: bool = True
    stages: list[Stage] = strawberry.field(
        default_factory=list, description="Lifecycle stages, e.g. PROSPECT, DECLINE; empty = any stage."
    )
    tiers: list[relay.GlobalID] = strawberry.field(default_factory=list)
    min_churn_probability: Decimal | None = None
    max_churn_probability: Decimal | None = None
    min_watch_minutes: int | None = None
    min_interactions: int | None = None
    min_prospect_propensity: Decimal | None = None
    benefit: relay.GlobalID | None = None
    delay_min_hours: Decimal = Decimal("6")
    delay_max_hours: Decimal = Decimal("12")
    window_hours: int = 72
    skip_if_bought: bool = True
    wecom_sender: str = ""
    link_url: str = ""
    post_to_groups: bool = strawberry.field(
        default=False, description="Also post the message in the WeCom groups of the customers it takes."
    )


@strawberry.input(description="Changes to a follow-up rule; fields left out stay as they are.")
class FollowupRulePatch:
    name: str | None = UNSET
    template: relay.GlobalID | None = UNSET
    channels: list[Channel] | None = UNSET
    trigger: Trigger | None = UNSET
    audience: Audience | None = UNSET
    priority: int | None = UNSET
    is_active: bool | None = UNSET
    stages: list[Stage] | None = UNSET
    tiers: list[relay.GlobalID] | None = UNSET
    min_churn_probability: Decimal | None = UNSET
    max_churn_probability: Decimal | None = UNSET
    min_watch_minutes: int | None = UNSET
    min_interactions: int | None = UNSET
    min_prospect_propensity: Decimal | None = UNSET
    benefit: relay.GlobalID | None = UNSET
    delay_min_hours: Decimal | None = UNSET
    delay_max_hours: Decimal | None = UNSET
    window_hours: int | None = UNSET
    skip_if_bought: bool | None = UNSET
    wecom_sender: str | None = UNSET
    link_url: str | None = UNSET
    post_to_groups: bool | None = UNSET


@strawberry.input(description="A message template.")
class MessageTemplateInput:
    code: str
    name: str
    body: str = strawberry.field(description="Placeholders: {brand}, {stream}, {benefit}, {tier}, {link}.")
    subject: str = ""
    language: Language = Language.ZH_HANS
    is_active: bool = True


@strawberry.input(description="Changes to a message template.")
class MessageTemplatePatch:
    code: str | None = UNSET
    name: str | None = UNSET
    body: str | None = UNSET
    subject: str | None = UNSET
    language: Language | None = UNSET
    is_active: bool | None = UNSET


@strawberry.input(description="Changes to the contact policy; fields left out stay as they are.")
class ContactPolicyPatch:
    quiet_start: str | None = strawberry.field(default=UNSET, description="HH:MM, brand time.")
    quiet_end: str | None = UNSET
    cap_72h: int | None = strawberry.field(default=UNSET, name="cap72h")
    cap_month: int | None = UNSET
    holdout_percent: Decimal | None = UNSET
    attribution_hours: int | None = UNSET
    wecom_daily_per_sender: int | None = UNSET
    wecom_mass_max: int | None = UNSET
    gateway: Gateway | None = UNSET
    webhook_url: str | None = UNSET
    webhook_secret: str | None = strawberry.field(default=UNSET, description="Write-only.")
    webhook_timeout_seconds: int | None = UNSET
    webhook_max_attempts: int | None = UNSET
    landing_url: str | None = UNSET
    click_ttl_days: int | None = UNSET
    learn_send_hour: bool | None = UNSET
    min_timing_clicks: int | None = UNSET


def _rule(info, rule_id, minimum=MANAGER) -> models.FollowupRule:
    return scoped_get(
        info,
        models.FollowupRule,
        rule_id,
        "FollowupRule",
        not_found=gettext("No such follow-up rule."),
        minimum=minimum,
    )


def _rule_values(info, brand_id: int, values: dict) -> tuple[dict, list | None]:
    """Global ids of an input → rows of the rule's brand (another brand's: not found)."""
    from apps.loyalty.models import Benefit, Tier

    def one(model, type_name, gid, message):
        row = scoped_get(info, model, gid, type_name, not_found=message, minimum=VIEWER)
        if row.brand_id != brand_id:
            raise ClientError(message)
        return row

    if "template" in values:
        values["template"] = one(
            models.MessageTemplate,
            "MessageTemplate",
            values["template"],
            gettext("No such message template."),
        )
    if values.get("benefit") is not None:
        values["benefit"] = one(Benefit, "Benefit", values["benefit"], gettext("No such benefit."))
    tiers = values.pop("tiers", None)
    if tiers is not None:
        tiers = [one(Tier, "Tier", t, gettext("No such tier.")) for t in tiers]
    return values, tiers


def _fresh(row):
    row.refresh_from_db()
    return row


def _time(value: str, field: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except (TypeError, ValueError):  # TypeError: null
        raise ClientError(gettext("%(field)s: use HH:MM.") % {"field": field}) from None


def _comparison(row: results.ArmComparison, labels: dict, currency: str) -> Comparison:
    return Comparison(
        key=str(row.key),
        label=labels.get(row.key, str(row.key)),
        treated=row.treated,
        treated_conversions=row.treated_conversions,
        control=row.control,
        control_conversions=row.control_conversions,
        treated_rate=row.treated_rate,
        control_rate=row.control_rate,
        uplift=row.uplift,
        uplift_low=row.uplift_low,
        uplift_high=row.uplift_high,
        treated_revenue=money(row.treated_revenue, currency),
        control_revenue=money(row.control_revenue, currency),
        revenue_uplift=money(row.revenue_uplift, currency),
        revenue_low=money(row.revenue_low, currency),
        revenue_high=money(row.revenue_high, currency),
        significant=row.significant,
        reason=enum_or_none(ComparisonReason, row.reason),
    )


@strawberry.type
class Query:
    @connection(
        Connection[FollowupRuleType],
        description="Follow-up rules of the caller's brands, by priority. Any member may read.",
    )
    def followup_rules(
        self, brand: relay.GlobalID | None = None, include_archived: bool = False
    ) -> Iterable[models.FollowupRule]:
        queryset = models.FollowupRule.objects.order_by("brand_id", "priority", "pk")
        if brand is not None:
            queryset = queryset.filter(brand_id=node_pk(brand, type_name="Brand", field="brand"))
        return queryset if include_archived else queryset.filter(is_active=True)

    @connection(Connection[MessageTemplateType], description="Message templates of the caller's brands.")
    def message_templates(self, brand: relay.GlobalID | None = None) -> Iterable[models.MessageTemplate]:
        queryset = models.MessageTemplate.objects.order_by("brand_id", "code")
        if brand is not None:
            queryset = queryset.filter(brand_id=node_pk(brand, type_name="Brand", field="brand"))
        return queryset

    @connection(
        Connection[TouchType],
        description="Touches of the caller's brands, latest planned first, filtered by rule, stream, customer, "
        "status, reason, channel, holdout and planned time. Any member may read.",
    )
    def touches(
        self,
        brand: relay.GlobalID | None = None,
        rule: relay.GlobalID | None = None,
        stream: relay.GlobalID | None = None,
        customer: relay.GlobalID | None = None,
        status: TouchStatus | None = None,
        reason: TouchReason | None = None,
        channel: Channel | None = None,
        holdout: bool | None = None,
        scheduled_from: dt.datetime | None = None,
        scheduled_to: dt.datetime | None = None,
    ) -> Iterable[models.Touch]:
        queryset = models.Touch.objects.order_by("-scheduled_at", "-pk")
        for value, type_name, column in (
            (brand, "Brand", "brand"),
            (rule, "FollowupRule", "rule"),
            (stream, "Stream", "stream"),
            (customer, "Customer", "customer"),
        ):
            if value is not None:
                queryset = queryset.filter(
                    **{f"{column}_id": node_pk(value, type_name=type_name, field=column)}
                )
        if status is not None:
            queryset = queryset.filter(status=status.value)
        if reason is not None:
            queryset = queryset.filter(reason=reason.value)
        if channel is not None:
            queryset = queryset.filter(channel=channel.value)
        if holdout is not None:
            queryset = queryset.filter(holdout=holdout)
        if scheduled_from is not None:
            queryset = queryset.filter(scheduled_at__gte=scheduled_from)
        if scheduled_to is not None:
            queryset = queryset.filter(scheduled_at__lt=scheduled_to)
        return queryset

    @connection(
        Connection[GroupPostType],
        description="Posts in the brands' WeCom groups (rules that post to groups), latest first, filtered by "
        "rule, stream, group and status. Any member may read.",
    )
    def group_posts(
        self,
        brand: relay.GlobalID | None = None,
        rule: relay.GlobalID | None = None,
        stream: relay.GlobalID | None = None,
        community: relay.GlobalID | None = None,
        status: TouchStatus | None = None,
    ) -> Iterable[models.GroupPost]:
        queryset = models.GroupPost.objects.order_by("-scheduled_at", "-pk")
        for value, type_name, column in (
            (brand, "Brand", "brand"),
            (rule, "FollowupRule", "rule"),
            (stream, "Stream", "stream"),
            (community, "Community", "community"),
        ):
            if value is not None:
                queryset = queryset.filter(
                    **{f"{column}_id": node_pk(value, type_name=type_name, field=column)}
                )
        if status is not None:
            queryset = queryset.filter(status=status.value)
        return queryset

    @strawberry.field(description="The brand's contact policy. Any member may read.")
    def contact_policy(self, info: Info, brand: relay.GlobalID) -> ContactPolicyType:
        owner = brand_for(info, brand, VIEWER)
        return ContactPolicyType.of(services.contact_policy_ensure(brand=owner))

    @strawberry.field(
        description="Does following up work? Touched against held-out customers, in total and per rule, channel, "
        "stage or send hour, for touches planned since `since` whose attribution window has passed. Any member."
    )
    def followup_results(
        self,
        info: Info,
        brand: relay.GlobalID,
        by: Dimension = Dimension.RULE,
        since: dt.datetime | None = None,
    ) -> Results:
        owner = brand_for(info, brand, VIEWER)
        total, groups = results.results(brand=owner, by=by.value, since=since)
        labels: dict = {}
        if by == Dimension.RULE:
            labels = {
                r.pk: gettext(r.name)
                for r in models.FollowupRule.objects.filter(brand=owner, pk__in=[g.key for g in groups])
            }
        elif by == Dimension.CHANNEL:
            labels = dict(models.Channel.choices)
        return Results(
            total=_comparison(total, {"all": gettext("All touches")}, owner.currency),
            groups=[_comparison(g, {k: str(v) for k, v in labels.items()}, owner.currency) for g in groups],
        )

    @strawberry.field(description="The brand's experiments, newest first, with their arms. Any member.")
    def experiments(self, info: Info, brand: relay.GlobalID) -> list[ExperimentType]:
        from django.db.models import Count

        owner = brand_for(info, brand, VIEWER)
        found = list(models.Experiment.objects.filter(brand=owner).order_by("-starts_at", "pk"))
        arms = (
            models.ExperimentArm.objects.filter(brand=owner, experiment__in=found)
            .annotate(customers=Count("assignments"))
            .order_by("-is_control", "code")
        )
        by_experiment: dict[int, list] = {}
        for arm in arms:
            by_experiment.setdefault(arm.experiment_id, []).append(
                ExperimentArmType(
                    code=arm.code,
                    name=arm.name,
                    is_control=arm.is_control,
                    share=arm.share,
                    treatment=ArmTreatment(arm.treatment),
                    customers=arm.customers,
                )
            )
        return [
            ExperimentType(
                code=e.code,
                name=e.name,
                hypothesis=e.hypothesis,
                status=ExperimentStatus(e.status),
                starts_at=e.starts_at,
                ends_at=e.ends_at,
                primary_metric=ExperimentMetric(e.primary_metric),
                secondary_metrics=[ExperimentMetric(m) for m in e.secondary_metrics],
                window_days=e.window_days,
                arms=by_experiment.get(e.pk, []),
                brand_id=owner.pk,
            )
            for e in found
        ]

    @strawberry.field(
        description="An experiment's results as of `at` (default now), with the keys of `manage.py "
        "experiment_results --format json`: per arm (`arms`, keyed by arm code) n, conversions, conversion_rate; "
        "per variant against control (`variants`) diff, ci_low, ci_high, p_value, p_value_adjusted (Holm), "
        "sequential_ci_low/high (valid when looking once a day until the end), cuped_diff, cuped_ci_low, cuped_ci_high, variance_reduction, "
        "cupac_* (with the product's prediction as covariate), rmst_diff_7/14/30, logrank_p, hazard_ratio; "
        "srm_p; the Kaplan-Meier curves per arm; warnings; and `unavailable`, the reason for each figure that "
        "cannot be computed; and `currency`, the brand's currency of the revenue figures. Any member."
    )
    def experiment_results(
        self, info: Info, brand: relay.GlobalID, code: str, at: dt.datetime | None = None
    ) -> JSON:
        from apps.engagement.experiments import experiment_results

        owner = brand_for(info, brand, VIEWER)
        found = models.Experiment.objects.filter(brand=owner, code=code).first()
        if found is None:
            raise ClientError(gettext("No such experiment."))
        if at is not None and at.tzinfo is None:
            raise ClientError(gettext("at: give the time with its offset, e.g. 2026-05-01T21:30:00+08:00."))
        return {**experiment_results(experiment=found, at=at), "currency": owner.currency}

    @strawberry.field(description="What the learned send hours rest on, per lifecycle stage. Any member.")
    def send_hour_evidence(self, info: Info, brand: relay.GlobalID) -> list[SendHourEvidence]:
        owner = brand_for(info, brand, VIEWER)
        policy = services.contact_policy_ensure(brand=owner)
        chosen = selectors.learned_send_hours(brand=owner, min_clicks=policy.min_timing_clicks)
        return [
            SendHourEvidence(
                stage=enum_or_none(Stage, row.stage),
                send_hour=int(row.send_hour),
                clicks=int(row.clicks),
                conversions=int(row.conversions),
                rate=float(row.rate),
                chosen=chosen.get(row.stage) == int(row.send_hour),
            )
            for row in selectors.send_hour_evidence(brand=owner).itertuples()
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Add a follow-up rule. Manager role.")
    def create_followup_rule(
        self, info: Info, brand: relay.GlobalID, input: FollowupRuleInput
    ) -> FollowupRuleType:
        owner = brand_for(info, brand, MANAGER)
        values, tiers = _rule_values(info, owner.pk, _given(input))
        with client_errors():
            return _fresh(
                services.followup_rule_create(brand=owner, tiers=tiers, actor=request_user(info), **values)
            )

    @strawberry.mutation(
        description="Change a follow-up rule; touches already planned keep their plan. Manager."
    )
    def update_followup_rule(
        self, info: Info, id: relay.GlobalID, input: FollowupRulePatch
    ) -> FollowupRuleType:
        rule = _rule(info, id)
        values, tiers = _rule_values(info, rule.brand_id, _given(input))
        with client_errors():
            return _fresh(
                services.followup_rule_update(rule=rule, tiers=tiers, actor=request_user(info), **values)
            )

    @strawberry.mutation(
        description="Archive a rule: no new plan uses it; its unsent touches are dropped. Manager."
    )
    def archive_followup_rule(self, info: Info, id: relay.GlobalID) -> FollowupRuleType:
        return services.followup_rule_archive(rule=_rule(info, id), actor=request_user(info))

    @strawberry.mutation(description="Add a message template. Manager role.")
    def create_message_template(
        self, info: Info, brand: relay.GlobalID, input: MessageTemplateInput
    ) -> MessageTemplateType:
        owner = brand_for(info, brand, MANAGER)
        with client_errors():
            return _fresh(
                services.message_template_create(brand=owner, actor=request_user(info), **_given(input))
            )

    @strawberry.mutation(description="Change a message template. Manager role.")
    def update_message_template(
        self, info: Info, id: relay.GlobalID, input: MessageTemplatePatch
    ) -> MessageTemplateType:
        template = scoped_get(
            info,
            models.MessageTemplate,
            id,
            "MessageTemplate",
            not_found=gettext("No such message template."),
            minimum=MANAGER,
        )
        with client_errors():
            return _fresh(
                services.message_template_update(template=template, actor=request_user(info), **_given(input))
            )

    @strawberry.mutation(description="Change the brand's contact policy. Manager role.")
    def update_contact_policy(
        self, info: Info, brand: relay.GlobalID, input: ContactPolicyPatch
    ) -> ContactPolicyType:
        owner = brand_for(info, brand, MANAGER)
        values = _given(input)
        for field in ("quiet_start", "quiet_end"):
            if field in values:
                values[field] = _time(values[field], field)
        policy = services.contact_policy_ensure(brand=owner)
        with client_errors():
            services.contact_policy_update(policy=policy, actor=request_user(info), **values)
        return ContactPolicyType.of(policy)

    @strawberry.mutation(
        description="Plan the follow-ups of a live stream that ended (what happens by itself when it ends); "
        "planning again adds only customers not yet planned. Manager role."
    )
    def plan_followups(self, info: Info, stream: relay.GlobalID) -> Plan:
        from apps.engagement.tasks import sends_schedule
        from apps.streams.models import Stream

        found = scoped_get(
            info, Stream, stream, "Stream", not_found=gettext("No such live stream."), minimum=MANAGER
        )
        try:
            result = planning.followups_plan(brand=found.brand, stream=found)
        except planning.PlanError as exc:
            raise ClientError(str(exc)) from None
        sends_schedule(brand=found.brand, times=result.send_times)
        return Plan(
            occasion=result.occasion,
            audience=result.audience,
            written=result.written,
            planned=result.planned,
            rules=[
                PlanRule(
                    rule_id=relay.GlobalID("FollowupRule", str(r.rule_id)),
                    name=gettext(r.name),
                    eligible=r.eligible,
                    planned=r.planned,
                    suppressed=[
                        ReasonCount(reason=TouchReason(k), count=v) for k, v in sorted(r.reasons.items())
                    ],
                    group_posts_planned=r.groups_planned,
                    group_posts_suppressed=[
                        ReasonCount(reason=TouchReason(k), count=v)
                        for k, v in sorted(r.group_reasons.items())
                    ],
                )
                for r in result.rules
            ],
        )

    @strawberry.mutation(
        description="Record that a customer asked not to be contacted on a channel (none given: every channel). "
        "Their unsent touches are dropped at send time. Manager role."
    )
    def record_channel_opt_out(
        self, info: Info, customer: relay.GlobalID, channel: Channel | None = None
    ) -> bool:
        from apps.customers.models import Customer

        found = scoped_get(
            info, Customer, customer, "Customer", not_found=gettext("No such customer."), minimum=MANAGER
        )
        with client_errors():
            services.channel_opt_out(
                brand=found.brand,
                customer=found,
                channel=channel.value if channel else "",
                source="api",
                actor=request_user(info),
            )
        return True
