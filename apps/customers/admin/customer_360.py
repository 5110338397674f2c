"""The customer 360 page (<id>/360/): one customer's profile, activity, benefits, stage and tier history, score
history and survival curve, each list the newest HISTORY_ROWS rows with its total and a link to the full list."""

from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import CustomerRecommendation, CustomerScore, RunStatus, StageChange
from apps.communities.models import CommunityMembership
from apps.core import charts
from apps.core.scoping import user_may
from apps.loyalty.models import RFM_SEGMENT_LABELS, BenefitGrant, Tier, TierChange
from apps.orders.models import Order, OrderStatus
from apps.streams.models import StreamView

PII_PERMISSION = "customers.view_customer_pii"
HISTORY_ROWS = 50  # rows per section of the 360 page; the section links to the full list


def may_see_pii(request, customer) -> bool:
    """The user's role in the customer's brand grants the raw phone and name (superusers: always)."""
    return user_may(request.user, customer.brand_id, PII_PERMISSION)


def _changelist(model, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{reverse(f'admin:{model._meta.app_label}_{model._meta.model_name}_changelist')}?{query}"


def customer_360_context(request, customer) -> dict:
    """Everything the 360 page shows, each list the newest HISTORY_ROWS rows with its total and a link to
    the full admin list. Every query filters on the brand first (brand-leading indexes)."""
    brand_id = customer.brand_id
    own = {"brand_id": brand_id, "customer_id": customer.pk}
    now = timezone.now()

    pii = may_see_pii(request, customer)
    phone = "—"
    if customer.phone:
        phone = customer.phone if pii else customer.masked_phone
    display_name = (customer.display_name if pii else customer.masked_display_name) or "—"

    orders = Order.objects.filter(**own)
    order_totals = orders.filter(status=OrderStatus.PAID).aggregate(n=Count("pk"), total=Sum("total_amount"))
    views = StreamView.objects.filter(**own)
    grants = BenefitGrant.objects.filter(**own)
    scores = list(
        CustomerScore.objects.filter(**own)
        .select_related("run", "tier")
        # the run's pickled engine and metrics are megabytes this page never reads
        .defer(
            *(
                f"run__{f}"
                for f in ("engine", "metrics", "params", "stage_models", "data_sufficiency", "timings")
            )
        )
        .order_by("-run__as_of", "-run_id")[:HISTORY_ROWS]
    )
    published = next((s for s in scores if s.run.status == RunStatus.PUBLISHED), None)
    tier_names = {
        pk: gettext(name) for pk, name in Tier.objects.filter(brand_id=brand_id).values_list("pk", "name")
    }

    next_action = _next_action(customer)
    clv_basis = _clv_basis(published)
    recommendation = CustomerRecommendation.objects.filter(
        brand_id=brand_id, customer=customer, run__status=RunStatus.PUBLISHED
    ).first()
    return {
        "next_action": next_action,
        "risk_factors": _risk_factors(customer, published),
        "clv_basis": clv_basis,
        "recommended": list(zip(recommendation.skus, recommendation.sku_categories, strict=False))
        if recommendation
        else [],
        "recommended_categories": recommendation.categories if recommendation else [],
        "customer": customer,
        "phone": phone,
        "display_name": display_name,
        "pii_visible": may_see_pii(request, customer),
        "published": published,
        "survival_chart": survival_chart(published),
        "score_chart": score_history_chart(scores),
        "score_rows": [
            (
                s,
                charts.percent(s.p_purchase_horizon),
                charts.percent(s.churn_probability),
                RFM_SEGMENT_LABELS.get(s.rfm_segment, s.rfm_segment),
            )
            for s in scores
        ],
        "published_p": charts.percent(published.p_purchase_horizon) if published else None,
        "published_churn": charts.percent(published.churn_probability) if published else None,
        "rfm_label": RFM_SEGMENT_LABELS.get(published.rfm_segment, published.rfm_segment)
        if published
        else None,
        "orders": list(orders.select_related("stream").order_by("-placed_at", "-pk")[:HISTORY_ROWS]),
        "orders_count": orders.count(),
        "paid_orders_count": order_totals["n"],
        "paid_total": order_totals["total"],
        "orders_url": _changelist(Order, customer__id__exact=customer.pk),
        "views": list(views.select_related("stream").order_by("-joined_at", "-pk")[:HISTORY_ROWS]),
        "views_count": views.count(),
        "views_url": _changelist(StreamView, customer__id__exact=customer.pk),
        "memberships": list(
            CommunityMembership.objects.filter(**own)
            .select_related("community")
            .order_by("-joined_at", "-pk")[:HISTORY_ROWS]
        ),
        "grants": [
            (grant, grant.status_at(now).label)
            for grant in grants.select_related("benefit").order_by("-granted_at", "-pk")[:HISTORY_ROWS]
        ],
        "grants_count": grants.count(),
        "grants_url": _changelist(BenefitGrant, customer__id__exact=customer.pk),
        "stage_changes": list(
            StageChange.objects.filter(**own)
            .select_related("run")
            .defer(
                *(
                    f"run__{f}"
                    for f in ("engine", "metrics", "params", "stage_models", "data_sufficiency", "timings")
                )
            )
            .order_by("-changed_on", "-pk")[:HISTORY_ROWS]
        ),
        "tier_changes": [
            (
                change,
                tier_names.get(change.from_tier_id, "—"),
                tier_names.get(change.to_tier_id, "—"),
                change.reason_label(tier_names.get(change.to_tier_id)),
            )
            for change in TierChange.objects.filter(**own).order_by("-changed_at", "-pk")[:HISTORY_ROWS]
        ],
        "acquisition_stream": customer.acquisition_stream if customer.acquisition_stream_id else None,
        "history_rows": HISTORY_ROWS,
        "now": now,
    }


def _clv_basis(published) -> str:
    """What the CLV figure is, in words: its period and basis, from the settings of the run that made it."""
    if published is None:
        return ""
    settings = published.run.settings_snapshot or {}
    try:
        years = round(int(settings.get("lifetime_days", 1095)) / 365, 1)
        margin = round(float(settings.get("gross_margin", 0)) * 100)
        rate = round(float(settings.get("annual_discount_rate", 0)) * 100, 1)
    except (TypeError, ValueError):
        return ""
    return gettext(
        "gross margin expected over %(years)s years (%(margin)s%% of revenue), discounted at %(rate)s%% a year"
    ) % {"years": f"{years:g}", "margin": margin, "rate": f"{rate:g}"}


def _risk_factors(customer, published) -> list[str]:
    """The three covariates that move the customer's chance of buying again most, in plain words."""
    from apps.customers.graphql.scores import customer_hazard_factors

    if published is None:
        return []
    out = []
    for factor in customer_hazard_factors(
        customer_id=customer.pk,
        run_id=published.run_id,
        stage=published.stage,
        top=3,
        stored=published.top_covariates,
    ):
        ratio = factor["hazard_ratio"]
        values = {
            "feature": factor["label"],
            "value": f"{factor['value']:.3g}",
            "average": f"{factor['average']:.3g}",
        }
        if ratio >= 1:
            text = gettext(
                "%(feature)s (%(value)s; typical %(average)s): buys again %(ratio)s× as readily as a typical "
                "customer of this stage — lowers the churn risk"
            )
            values["ratio"] = f"{ratio:.1f}"
        else:
            # a share of the typical rate ("1.2× less likely" read awkwardly, in Chinese too)
            text = gettext(
                "%(feature)s (%(value)s; typical %(average)s): buys again at %(share)s of the rate of a typical "
                "customer of this stage — raises the churn risk"
            )
            values["share"] = f"{ratio:.0%}"
        out.append(text % values)
    return out


def _next_action(customer) -> dict | None:
    """The stored next best action in words."""
    from apps.engagement.models import NextAction
    from apps.engagement.next_action import reason_texts

    row = (
        NextAction.objects.filter(brand_id=customer.brand_id, customer=customer)
        .select_related("benefit")
        .first()
    )
    if row is None:
        return None
    tiers = {
        pk: gettext(name)
        for pk, name in Tier.objects.filter(brand_id=customer.brand_id).values_list("pk", "name")
    }
    return {
        "row": row,
        "benefit": gettext(row.benefit.name) if row.benefit else None,
        "reasons": reason_texts(row.reasons, tier_names=tiers, currency=customer.brand.currency),
    }


def survival_chart(score):
    """The published score's survival curve, P(no purchase yet) by day, with P(purchase within the horizon)
    marked at the horizon."""
    from apps.analytics.survival.scoring import GRID_DAYS

    title = _("Chance of no purchase yet, by days after the scores' as-of date")
    if score is None or not score.survival_curve:
        return charts.line_chart([], title=title, empty_message=_("No published score yet"))
    grid = [0.0, *(float(d) for d in GRID_DAYS)]
    curve = [1.0, *(float(v) for v in score.survival_curve)]
    points = list(zip(grid, curve, strict=False))
    horizon = score.run.horizon_days
    p = score.p_purchase_horizon
    label = _("P(purchase within %(days)d days) = %(p)s") % {"days": horizon, "p": charts.percent(p)}
    return charts.line_chart(
        [charts.Series(str(_("Survival curve")), points, dots=True)],
        title=title,
        x_label=_("days"),
        y_label=_("P(no purchase yet)"),
        x_range=(0, max(grid[-1], horizon)),
        y_range=(0.0, 1.0),
        y_format=charts.percent,
        marker=charts.Marker(horizon, 1.0 - p, label),
        description=label,
    )


def score_history_chart(scores):
    """P(purchase within the horizon) and churn probability across the runs that scored the customer."""
    ordered = sorted(scores, key=lambda s: (s.run.as_of, s.run_id))
    return charts.line_chart(
        [
            charts.Series(
                str(_("P(purchase within horizon)")), [(s.run.as_of, s.p_purchase_horizon) for s in ordered]
            ),
            charts.Series(str(_("churn probability")), [(s.run.as_of, s.churn_probability) for s in ordered]),
        ],
        title=_("Score history"),
        x_label=_("as of"),
        y_range=(0.0, 1.0),
        y_format=charts.percent,
        height=260,
    )
