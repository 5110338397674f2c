"""Model runs, per-customer scores and the per-brand settings and stage rules that drive them.

Scores are written under their run and published by pointing the brand at the run (one transaction):
until then readers keep seeing the previous run, and a run that dies half-way leaves nothing visible.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.models import (
    BrandOwnedModel,
    BrandScopedQuerySet,
    TimeStampedModel,
    brand_field,
    same_brand_fk,
)


class Stage(models.TextChoices):
    # a viewer who has not bought yet (潜客): before introduction; scored by the first-purchase propensity
    PROSPECT = "prospect", _("Prospect")
    INTRODUCTION = "introduction", _("Introduction")
    GROWTH = "growth", _("Growth")
    MATURITY = "maturity", _("Maturity")
    DECLINE = "decline", _("Decline")
    CHURNED = "churned", _("Churned")


class StageRule(models.TextChoices):
    """Which of the brand's stage rules placed a customer (see ScoringConfig)."""

    CHURN_GAP = "churn_gap", _("Gap since last purchase over the churn ratio of their rhythm")
    CHURN_PROBABILITY = "churn_probability", _("Churn probability at or above the churn threshold")
    DECLINE_GAP = "decline_gap", _("Gap since last purchase over the decline ratio of their rhythm")
    MATURITY_ORDERS = "maturity_orders", _("Enough paid purchases for maturity")
    GROWTH_ORDERS = "growth_orders", _("Repeat purchases")
    INTRODUCTION = "introduction", _("First purchase")


class Estimator(models.TextChoices):
    COXPH = "coxph", _("Cox proportional hazards")
    COXNET = "coxnet", _("Penalised Cox (elastic net)")
    RSF = "rsf", _("Random survival forest")
    GBSA = "gbsa", _("Gradient-boosted survival")


class ScoringConfig(TimeStampedModel):
    """How one brand is scored: horizons, money, estimator and the explicit lifecycle-stage rules.

    Stage rules, checked in this order for every customer with a paid purchase:
      churned   days since the last purchase > churn_gap_ratio × rhythm, or churn probability ≥ churn_probability
      decline   days since the last purchase > decline_gap_ratio × rhythm
      maturity  paid purchases ≥ maturity_min_orders
      growth    paid purchases ≥ growth_min_orders
      introduction  otherwise
    The rhythm is the customer's median gap between paid purchases; with a single purchase, the brand's
    median gap. Each customer's score records which rule placed them and the figures it compared.
    """

    brand = models.OneToOneField(
        "brands.Brand", on_delete=models.CASCADE, related_name="scoring_config", verbose_name=_("brand")
    )
    horizon_days = models.PositiveIntegerField(
        _("prediction horizon (days)"), default=90, validators=[MinValueValidator(7), MaxValueValidator(365)]
    )
    lifetime_days = models.PositiveIntegerField(
        _("CLV horizon (days)"), default=1095, validators=[MinValueValidator(90), MaxValueValidator(3650)]
    )
    gross_margin = models.DecimalField(
        _("gross margin"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.350"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text=_("Share of revenue that is profit, used for CLV (0.35 = 35%)."),
    )
    annual_discount_rate = models.DecimalField(
        _("annual discount rate"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.100"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    estimator = models.CharField(
        _("estimator"), max_length=8, choices=Estimator.choices, default=Estimator.COXPH
    )
    tune_hyperparameters = models.BooleanField(
        _("tune hyperparameters"),
        default=True,
        help_text=_("Choose the estimator's hyperparameters by time-split cross-validation."),
    )
    min_stage_events = models.PositiveIntegerField(
        _("minimum events per stage"),
        default=50,
        help_text=_("A stage with fewer repeat purchases uses the pooled model (or Kaplan-Meier) instead."),
    )
    fit_sample_rows = models.PositiveIntegerField(
        _("fit sample size"),
        default=200_000,
        help_text=_("At most this many purchase gaps are used to fit; everyone is scored."),
    )
    random_seed = models.PositiveIntegerField(_("random seed"), default=0)
    growth_min_orders = models.PositiveSmallIntegerField(_("growth: minimum paid purchases"), default=2)
    maturity_min_orders = models.PositiveSmallIntegerField(_("maturity: minimum paid purchases"), default=4)
    decline_gap_ratio = models.DecimalField(
        _("decline: days since last purchase over rhythm"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.50"),
    )
    churn_gap_ratio = models.DecimalField(
        _("churned: days since last purchase over rhythm"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("3.00"),
    )
    churn_probability = models.DecimalField(
        _("churned: churn probability at least"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.950"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )

    class Meta:
        verbose_name = _("scoring configuration")
        verbose_name_plural = _("scoring configurations")
        constraints = [
            models.CheckConstraint(
                condition=Q(maturity_min_orders__gt=models.F("growth_min_orders")),
                name="scoringconfig_maturity_after_growth",
                violation_error_message=_("Maturity must need more paid purchases than growth."),
            ),
            models.CheckConstraint(
                condition=Q(churn_gap_ratio__gt=models.F("decline_gap_ratio")),
                name="scoringconfig_churn_after_decline",
                violation_error_message=_("The churned ratio must be larger than the decline ratio."),
            ),
            models.CheckConstraint(
                condition=Q(growth_min_orders__gte=2),
                name="scoringconfig_growth_repeat",
                violation_error_message=_("Growth starts with a repeat purchase: at least 2 paid purchases."),
            ),
        ]

    def __str__(self):
        return str(self.brand)


class RunKind(models.TextChoices):
    REFRESH = "refresh", _("Refresh")
    BACKTEST = "backtest", _("Backtest")


class RunStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    PUBLISHED = "published", _("Published")
    SUPERSEDED = "superseded", _("Superseded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class ModelRunQuerySet(BrandScopedQuerySet):
    def published(self):
        """The run whose scores readers see: at most one per brand (a unique constraint says so)."""
        return self.filter(status=RunStatus.PUBLISHED)

    def ever_published(self):
        """Refreshes that were published: the current one and those it superseded (their scores are kept
        for the last few; see publishing.KEEP_PUBLISHED_RUNS)."""
        return self.filter(kind=RunKind.REFRESH, status__in=[RunStatus.PUBLISHED, RunStatus.SUPERSEDED])


class ModelRun(BrandOwnedModel):
    kind = models.CharField(_("kind"), max_length=8, choices=RunKind.choices, default=RunKind.REFRESH)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    as_of = models.DateField(
        _("as of"), help_text=_("Data up to the end of this day in the brand's time zone.")
    )
    cutoff = models.DateTimeField(_("cutoff"))
    horizon_days = models.PositiveIntegerField(_("horizon (days)"))
    estimator = models.CharField(_("estimator"), max_length=8, choices=Estimator.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    settings_snapshot = models.JSONField(_("settings"), default=dict, blank=True)
    data_sufficiency = models.JSONField(_("data sufficiency"), default=dict, blank=True)
    stage_models = models.JSONField(_("stage models"), default=dict, blank=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    timings = models.JSONField(_("timings (s)"), default=dict, blank=True)
    customers_scored = models.PositiveIntegerField(_("customers scored"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    message = models.TextField(_("message"), blank=True)
    triggered_by = models.CharField(_("triggered by"), max_length=100, blank=True)
    phase = models.CharField(
        _("step"),
        max_length=60,
        blank=True,
        editable=False,
        help_text=_("What a pending or running refresh is doing now (its progress)."),
    )
    engine = models.BinaryField(
        _("fitted engine"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("The fitted stage models, pickled, so scoring can be split across workers."),
    )

    objects = ModelRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("model run")
        verbose_name_plural = _("model runs")
        ordering = ["brand", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="modelrun_brand_id_key"),
            models.UniqueConstraint(
                fields=["brand"], condition=Q(status="published"), name="modelrun_one_published_per_brand"
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "kind", "status", "as_of"], name="modelrun_brand_kind_status")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.as_of} #{self.pk}"


class CustomerScore(BrandOwnedModel):
    """One customer's predictions in one run. Published scores are those of the brand's published run."""

    brand = brand_field(constraint=False)
    run = same_brand_fk(
        ModelRun, on_delete=models.CASCADE, related_name="scores", verbose_name=_("model run")
    )
    customer = same_brand_fk(
        "customers.Customer", on_delete=models.CASCADE, related_name="scores", verbose_name=_("customer")
    )
    stage = models.CharField(_("lifecycle stage"), max_length=12, choices=Stage.choices)
    stage_rule = models.CharField(_("stage rule"), max_length=20, choices=StageRule.choices)
    rhythm_days = models.FloatField(_("usual days between purchases"))
    tier = same_brand_fk(
        "loyalty.Tier",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tier"),
    )
    rfm_recency = models.PositiveSmallIntegerField(_("R score"))
    rfm_frequency = models.PositiveSmallIntegerField(_("F score"))
    rfm_monetary = models.PositiveSmallIntegerField(_("M score"))
    rfm_segment = models.CharField(_("RFM segment"), max_length=24)
    orders_count = models.PositiveIntegerField(_("paid purchases"))
    monetary_total = models.DecimalField(
        _("total spend"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Unknown when the purchase log has no amounts."),
    )
    last_purchase_at = models.DateTimeField(_("last purchase at"))
    days_since_last_purchase = models.FloatField(_("days since last purchase"))
    p_purchase_horizon = models.FloatField(_("P(purchase within horizon)"))
    churn_probability = models.FloatField(_("churn probability"))
    expected_revenue_horizon = models.DecimalField(
        _("expected revenue within horizon"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Unknown when the purchase log has no amounts."),
    )
    clv = models.DecimalField(
        _("CLV"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Unknown when the purchase log has no amounts."),
    )
    clv_percentile = models.FloatField(
        _("CLV percentile"),
        null=True,
        blank=True,
        help_text=_(
            "Share (0–100) of the run's scored customers with a strictly lower CLV, as tier rules count it; "
            "set when the run is published."
        ),
    )
    value_percentile = models.FloatField(
        _("value-to-date percentile"),
        null=True,
        blank=True,
        help_text=_(
            "Share (0–100) of the run's scored customers who have been worth strictly less so far (total "
            "spend, or paid purchases when the log has no amounts); set when the run is published."
        ),
    )
    median_days_to_next_purchase = models.FloatField(_("median days to next purchase"), null=True, blank=True)
    survival_curve = models.JSONField(
        _("survival curve"), default=list, help_text=_("P(no purchase yet) at each day of the run's grid.")
    )
    top_covariates = models.JSONField(
        _("strongest covariates"),
        null=True,
        blank=True,
        help_text=_(
            "The covariates that move this customer's chance of buying again most under their stage's model, "
            "as scored: [index into the stage model's features, value] pairs, strongest first (empty when "
            "the stage's model has no coefficients; null for runs scored before they were kept)."
        ),
    )

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        constraints = [
            models.UniqueConstraint(fields=["brand", "run", "customer"], name="customerscore_one_per_run"),
            models.CheckConstraint(
                condition=Q(p_purchase_horizon__gte=0, p_purchase_horizon__lte=1),
                name="customerscore_p_in_unit",
            ),
            models.CheckConstraint(
                condition=Q(churn_probability__gte=0, churn_probability__lte=1),
                name="customerscore_churn_in_unit",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "customer", "run"], name="customerscore_brand_customer"),
            models.Index(fields=["brand", "run", "churn_probability"], name="customerscore_run_churn"),
            # lists sorted by CLV (the list screen's default): the churn range and stage they are filtered by
            # are checked in the index as it is read in CLV order, so a page of the at-risk view reads the
            # rows it shows instead of every higher-CLV row before them (224 ms → 15 ms a page at 1M)
            models.Index(
                fields=["brand", "run", "clv", "churn_probability", "stage"],
                name="customerscore_run_clv_seek",
            ),
            models.Index(fields=["brand", "run", "clv_percentile"], name="customerscore_run_clv_pct"),
            models.Index(fields=["brand", "run", "value_percentile"], name="customerscore_run_value_pct"),
            models.Index(fields=["brand", "run", "stage"], name="customerscore_run_stage"),
        ]

    def __str__(self):
        return gettext("Score of customer #%(customer)s in run #%(run)s") % {
            "customer": self.customer_id,
            "run": self.run_id,
        }


class ProspectScore(BrandOwnedModel):
    """A viewer who has not bought yet (stage prospect, 潜客), scored by a run: P(first purchase within the
    run's horizon) from their viewing and interaction history up to the run's cutoff."""

    # enforced by the composite same-brand foreign keys to the run and the customer
    brand = brand_field(constraint=False)
    run = same_brand_fk(
        ModelRun, on_delete=models.CASCADE, related_name="prospect_scores", verbose_name=_("model run")
    )
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="prospect_scores",
        verbose_name=_("customer"),
    )
    propensity = models.FloatField(_("P(first purchase within horizon)"))
    streams_watched = models.PositiveIntegerField(_("live streams watched"))
    watch_minutes = models.FloatField(_("minutes watched"))
    interactions = models.PositiveIntegerField(_("interactions"))
    days_since_last_view = models.FloatField(_("days since last view"))

    class Meta:
        verbose_name = _("prospect score")
        verbose_name_plural = _("prospect scores")
        constraints = [
            models.UniqueConstraint(fields=["brand", "run", "customer"], name="prospectscore_one_per_run"),
            models.CheckConstraint(
                condition=Q(propensity__gte=0, propensity__lte=1), name="prospectscore_p_in_unit"
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "customer", "run"], name="prospectscore_brand_customer"),
            models.Index(fields=["brand", "run", "propensity"], name="prospectscore_run_p"),
        ]

    def __str__(self):
        return gettext("Propensity of customer #%(customer)s in run #%(run)s") % {
            "customer": self.customer_id,
            "run": self.run_id,
        }


class StageChange(BrandOwnedModel):
    """Stage history: written when a published run moves a customer to another stage."""

    brand = brand_field(constraint=False)
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="stage_changes",
        verbose_name=_("customer"),
    )
    run = same_brand_fk(
        ModelRun, on_delete=models.CASCADE, related_name="stage_changes", verbose_name=_("model run")
    )
    from_stage = models.CharField(_("from stage"), max_length=12, choices=Stage.choices, blank=True)
    to_stage = models.CharField(_("to stage"), max_length=12, choices=Stage.choices)
    changed_on = models.DateField(_("as of"))
    rule = models.CharField(_("stage rule"), max_length=20, choices=StageRule.choices)

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["brand", "-changed_on"]
        indexes = [
            models.Index(fields=["brand", "customer", "changed_on"], name="stagechange_brand_customer"),
            # the admin list's order: the latest first
            models.Index(fields=["brand", "-changed_on", "-id"], name="stagechange_brand_latest"),
        ]

    def __str__(self):
        return gettext("Customer #%(customer)s: %(from)s → %(to)s (%(day)s)") % {
            "customer": self.customer_id,
            "from": self.get_from_stage_display() or gettext("no stage"),
            "to": self.get_to_stage_display(),
            "day": f"{self.changed_on:%Y-%m-%d}",
        }


class CustomerRecommendation(BrandOwnedModel):
    """The products to offer one customer under a refresh run: SKUs and categories from co-purchase within the
    brand (items bought by customers who bought what this customer bought, recency-weighted), best first.
    Judged on held-out time with the run (run.metrics["recommendations"])."""

    brand = brand_field(constraint=False)
    run = same_brand_fk(
        ModelRun, on_delete=models.CASCADE, related_name="recommendations", verbose_name=_("model run")
    )
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="recommendations",
        verbose_name=_("customer"),
    )
    skus = models.JSONField(_("SKUs"), default=list)
    sku_categories = models.JSONField(_("categories of the SKUs"), default=list)
    scores = models.JSONField(_("scores"), default=list)
    categories = models.JSONField(_("product categories"), default=list)

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")
        constraints = [
            models.UniqueConstraint(fields=["brand", "run", "customer"], name="recommendation_one_per_run"),
        ]
        indexes = [models.Index(fields=["brand", "customer", "run"], name="recommendation_brand_customer")]

    def __str__(self):
        return f"{self.run_id}/{self.customer_id}"


class DashboardSnapshot(BrandOwnedModel):
    """The brand dashboard's figures that change only when a run is published or new data arrive (scores by
    tier and stage, the at-risk list, cohorts, Kaplan-Meier curves, GMV and buyers by month and by day,
    repurchase after streams), computed once instead of on every view (seconds at a million customers).

    One row per brand, valid while its run is the published one, its data version matches the brand's data
    (apps.analytics.snapshots.data_version) and its format is the code's; computed at publish and on the
    first view that finds it missing or stale. `data` holds figures only (no words): the page puts them in
    the reader's language."""

    # the id of the run published when it was computed (None: none yet); a plain column, not a key: a deleted
    # run leaves a snapshot that no longer matches, recomputed on the next view
    run_id = models.BigIntegerField(_("published run"), null=True, blank=True)
    data_version = models.CharField(_("data version"), max_length=200)
    format = models.PositiveSmallIntegerField(_("format"))
    computed_at = models.DateTimeField(_("computed at"))
    seconds = models.FloatField(_("seconds to compute"))
    data = models.JSONField(_("figures"), default=dict)

    class Meta:
        verbose_name = _("dashboard snapshot")
        verbose_name_plural = _("dashboard snapshots")
        constraints = [models.UniqueConstraint(fields=["brand"], name="dashboardsnapshot_one_per_brand")]

    def __str__(self):
        return f"{self.brand_id}/{self.run_id}/{self.data_version}"
