"""The audit trail: who changed which tier, benefit, tier↔benefit link, tier rule or grant, when, and how.

Rows are written by apps.audit.services.audit_record, called from the loyalty services (so the admin, the
GraphQL API and commands are all covered) and from the admin paths that edit rows directly (inlines,
deletes). `object_repr` and `changes` hold codes, names and ids of brand data, never a customer's personal
data: free text staff type about a customer (a grant's note) is recorded as "[withheld]". Rows are never
edited, but for one thing: erasing a customer withholds the free text still recorded for their rows (an
opt-out's source). Erasures are recorded too (who, when, the customer's id and what was cleared).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel


class AuditAction(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Changed")
    ARCHIVED = "archived", _("Archived")
    DELETED = "deleted", _("Deleted")
    GRANTED = "granted", _("Granted")
    REVOKED = "revoked", _("Revoked")
    EXPORTED = "exported", _("Exported")
    ERASED = "erased", _("Erased personal data")


class AuditObjectType(models.TextChoices):
    TIER = "tier", _("Tier")
    BENEFIT = "benefit", _("Benefit")
    TIER_BENEFIT = "tier_benefit", _("Tier benefit")
    TIER_RULE = "tier_rule", _("Tier rule")
    BENEFIT_GRANT = "benefit_grant", _("Benefit grant")
    CONTACT_POLICY = "contact_policy", _("Contact policy")
    MESSAGE_TEMPLATE = "message_template", _("Message template")
    FOLLOWUP_RULE = "followup_rule", _("Follow-up rule")
    CHANNEL_OPT_OUT = "channel_opt_out", _("Channel opt-out")
    EXPERIMENT = "experiment", _("Experiment")
    CUSTOMER_LIST = "customer_list", _("Customer list")
    CUSTOMER = "customer", _("Customer")


class ActorKind(models.TextChoices):
    USER = "user", _("Staff user")
    API_TOKEN = "api_token", _("API token")
    SYSTEM = "system", _("System")


class AuditEvent(BrandOwnedModel):
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    actor_kind = models.CharField(_("actor kind"), max_length=16, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,  # indexed under brand_id below
        related_name="+",
        verbose_name=_("staff user"),
    )
    actor_token = models.ForeignKey(
        "api.ApiToken",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,  # tokens are revoked, never deleted
        related_name="+",
        verbose_name=_("API token"),
    )
    actor_label = models.CharField(
        _("who"),
        max_length=150,
        blank=True,
        help_text=_("The staff user's name, or the API token's name and prefix."),
    )
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(_("object type"), max_length=24, choices=AuditObjectType.choices)
    object_id = models.BigIntegerField(_("object id"))
    object_repr = models.CharField(_("object"), max_length=200)
    changes = models.JSONField(
        _("changes"), default=dict, blank=True, help_text=_("Each changed field: [old value, new value].")
    )

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["brand", "-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["brand", "-occurred_at"], name="audit_brand_occurred"),
            models.Index(fields=["brand", "object_type", "object_id"], name="audit_brand_object"),
            models.Index(fields=["brand", "actor_label"], name="audit_brand_actor"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} {self.get_object_type_display()} {self.object_repr}"
