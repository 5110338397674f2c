"""The hidden truths behind a generated demo brand, kept so an engine can be checked against them."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel, brand_field, same_brand_fk


class DemoTruth(models.Model):
    """What the generator did for one brand: seed, period and the survival truth (hazard ratios etc.)."""

    brand = models.OneToOneField(
        "brands.Brand", on_delete=models.CASCADE, related_name="demo_truth", verbose_name=_("brand")
    )
    seed = models.BigIntegerField(_("seed"))
    n_customers = models.PositiveIntegerField(_("customers"))
    start = models.DateTimeField(_("simulated from"))
    end = models.DateTimeField(_("simulated until"))
    params = models.JSONField(
        _("parameters"),
        help_text=_("Hazard ratios, cure-model scale per stage, baseline and exact covariate definitions."),
    )
    generated_at = models.DateTimeField(_("generated at"), auto_now=True)

    class Meta:
        verbose_name = _("demo truth")
        verbose_name_plural = _("demo truths")

    def __str__(self):
        return f"{self.brand} (seed {self.seed})"


class DemoCustomerTruth(BrandOwnedModel):
    """Per-customer hidden state of the simulation. Never a model input: it is the answer key."""

    # enforced by the composite same-brand foreign key to the customer
    brand = brand_field(constraint=False)
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="demo_truths",
        verbose_name=_("customer"),
    )
    is_alive_at_end = models.BooleanField(_("alive at end"))
    died_at = models.DateTimeField(_("died at"), null=True, blank=True)
    spend_level = models.DecimalField(_("spend level"), max_digits=12, decimal_places=2)
    view_propensity = models.FloatField(_("view propensity"))

    class Meta:
        verbose_name = _("demo customer truth")
        verbose_name_plural = _("demo customer truths")
        constraints = [
            models.UniqueConstraint(fields=["brand", "customer"], name="democustomertruth_one_per_customer")
        ]
        indexes = [models.Index(fields=["brand", "is_alive_at_end"], name="demotruth_brand_alive")]

    def __str__(self):
        return f"{self.customer_id}: {'alive' if self.is_alive_at_end else 'dead'}"
