"""Customers of a brand. Name, phone and e-mail are personal data: never log them."""

import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel, brand_field, same_brand_fk


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    UNKNOWN = "unknown", _("Unknown")


class AgeBand(models.TextChoices):
    UNDER_18 = "<18", _("Under 18")
    A18_24 = "18-24", "18–24"
    A25_34 = "25-34", "25–34"
    A35_44 = "35-44", "35–44"
    A45_54 = "45-54", "45–54"
    A55_PLUS = "55+", _("55 and over")


class AcquisitionChannel(models.TextChoices):
    LIVE_STREAM = "live_stream", _("Live stream")
    SHORT_VIDEO = "short_video", _("Short video")
    SEARCH = "search", _("Search")
    COMMUNITY = "community", _("Community")
    REFERRAL = "referral", _("Referral")
    ADS = "ads", _("Paid ads")
    OFFLINE = "offline", _("Offline store")
    OTHER = "other", _("Other")


class TouchChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    WECOM = "wecom", _("WeCom")
    EMAIL = "email", _("Email")
    APP_PUSH = "app_push", _("App push")
    NONE = "none", _("None")


def age_band_for(age: int) -> str:
    if age < 18:
        return AgeBand.UNDER_18
    if age < 25:
        return AgeBand.A18_24
    if age < 35:
        return AgeBand.A25_34
    if age < 45:
        return AgeBand.A35_44
    if age < 55:
        return AgeBand.A45_54
    return AgeBand.A55_PLUS


# The text the admin's customer list searches in (CustomerAdmin.search_fields), with "contains, any case"
# (UPPER(column) LIKE UPPER('%term%')); migration 0011 gives each a trigram index on that expression.
SEARCHED_FIELDS = ("external_id", "display_name", "city", "province")


class Customer(BrandOwnedModel):
    external_id = models.CharField(_("external id"), max_length=128)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True, default="", db_default="")
    gender = models.CharField(_("gender"), max_length=8, choices=Gender.choices, default=Gender.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    age_band = models.CharField(_("age band"), max_length=8, choices=AgeBand.choices, blank=True)
    province = models.CharField(_("province"), max_length=64, blank=True)
    city = models.CharField(_("city"), max_length=64, blank=True)
    acquisition_channel = models.CharField(
        _("acquisition channel"),
        max_length=16,
        choices=AcquisitionChannel.choices,
        default=AcquisitionChannel.OTHER,
    )
    acquisition_stream = same_brand_fk(
        "streams.Stream",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acquired_customers",
        verbose_name=_("acquisition stream"),
    )
    first_seen_at = models.DateTimeField(_("first seen at"), null=True, blank=True)
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    automated_decisions_opt_out = models.BooleanField(_("opted out of automated decisions"), default=False)
    preferred_touch_channel = models.CharField(
        _("preferred touch channel"), max_length=16, choices=TouchChannel.choices, blank=True
    )
    # Set by customers.services.customer_erase: the personal data is gone, orders and figures stay.
    erased_at = models.DateTimeField(_("personal data erased at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["brand", "external_id"]
        permissions = [("view_customer_pii", _("Can see customers' personal data (raw phone and e-mail)"))]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="customer_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "external_id"], name="customer_unique_external_id"),
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1900, birth_year__lte=2100),
                name="customer_birth_year_range",
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="customer_external_id_not_empty"),
        ]
        indexes = [
            models.Index(fields=["brand", "first_seen_at"], name="customer_brand_first_seen"),
            models.Index(fields=["brand", "acquisition_stream"], name="customer_brand_acq_stream"),
            # the list's search by an exact phone number
            models.Index(fields=["brand", "phone"], name="customer_brand_phone"),
            # and, in SQL (migration 0011), a trigram index on UPPER(column) of each of SEARCHED_FIELDS
        ]

    def __str__(self):
        return self.external_id

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def masked_email(self) -> str:
        return mask_email(self.email)

    @property
    def masked_display_name(self) -> str:
        return mask_name(self.display_name)


def mask_name(name: str) -> str:
    """张** style: the first character, then one * per further character (a name is personal data)."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_email(email: str) -> str:
    """z***@example.com style: the first character of the local part and the domain."""
    if not email:
        return ""
    local, _at, domain = email.partition("@")
    return (local[:1] + "***@" + domain) if domain else "*" * len(email)


def mask_phone(phone: str) -> str:
    """138****5678 style: keep the first 3 and last 4 digits when long enough."""
    if not phone:
        return ""
    if len(phone) >= 8:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * len(phone)


# --- exports of the customer list ---------------------------------------------------------------------------


class ExportStorage(FileSystemStorage):
    """Where export files are kept when no "exports" storage is configured: EXPORTS_ROOT (a setting or an
    environment variable), else MEDIA_ROOT/exports, else media/exports in the checkout (ignored by git).
    Read at each use, so tests and workers can point it elsewhere. Served only through the download view."""

    @property
    def base_location(self):
        root = getattr(settings, "EXPORTS_ROOT", "") or os.environ.get("EXPORTS_ROOT", "")
        if not root:
            root = Path(settings.MEDIA_ROOT or Path(settings.BASE_DIR) / "media") / "exports"
        return str(root)

    @property
    def location(self):
        return os.path.abspath(self.base_location)


def export_storage():
    """The storage of export files: settings.STORAGES["exports"] when configured (e.g. object storage shared by
    web and workers), else ExportStorage on the local disk."""
    from django.core.files.storage import storages

    return storages["exports"] if "exports" in settings.STORAGES else ExportStorage()


class ExportFormat(models.TextChoices):
    CSV = "csv", _("CSV (opens in Excel and WPS)")
    XLSX = "xlsx", _("Excel workbook (.xlsx)")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready to download")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired (file deleted)")


class ExportJob(BrandOwnedModel):
    """A customer list exported in the background (a large list): who asked, the list's filters, the format,
    the progress, and the file, kept until `expires_at` and downloadable only by the same staff member while
    they are still staff of the brand. Names and phones in the file are masked unless the staff member's role
    may see personal data when the file is written."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # indexed under brand_id below
        verbose_name=_("staff user"),
    )
    filters = models.TextField(_("filters"), blank=True, help_text=_("The customer list's query string."))
    format = models.CharField(_("format"), max_length=8, choices=ExportFormat.choices)
    language = models.CharField(_("language"), max_length=16, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    rows_total = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    personal_data = models.BooleanField(_("with personal data"), default=False)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", storage=export_storage, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("customer export")
        verbose_name_plural = _("customer exports")
        ordering = ["brand", "-created_at", "-id"]
        indexes = [models.Index(fields=["brand", "user", "-created_at"], name="exportjob_brand_user_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(rows_total__isnull=True) | Q(rows_done__lte=F("rows_total")),
                name="exportjob_done_within_total",
            ),
        ]

    def __str__(self):
        return f"{self.get_format_display()} #{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, int(100 * self.rows_done / self.rows_total))


# --- erasure ------------------------------------------------------------------------------------------------


class ErasureTombstone(BrandOwnedModel):
    """What stays of an erased customer's external id: its keyed hash, so a re-imported file cannot bring the
    person back under the old id (customers.services.customer_erase writes it, customers.selectors.ErasedIds
    reads it). The hash is HMAC-SHA256 of the brand and the id under settings.CLV_ERASURE_KEY, a key that is
    never stored in the database: without it the table says nothing about anyone. One row per brand and id;
    rows of that id go to the erased customer, or are refused, as the brand chooses
    (Brand.erased_customer_rows). The erased customer cannot be deleted while its tombstone exists (deleting
    it would let the id come back); deleting the brand takes both along."""

    # enforced by the composite same-brand foreign key to the customer
    brand = brand_field(constraint=False)
    digest = models.CharField(_("keyed hash of the external id"), max_length=64, editable=False)
    customer = same_brand_fk(
        Customer,
        on_delete=models.RESTRICT,
        related_name="erasure_tombstones",
        verbose_name=_("erased customer"),
    )
    erased_at = models.DateTimeField(_("erased at"))

    class Meta:
        verbose_name = _("erasure tombstone")
        verbose_name_plural = _("erasure tombstones")
        constraints = [
            models.UniqueConstraint(fields=["brand", "digest"], name="tombstone_unique_digest"),
        ]
        indexes = [models.Index(fields=["brand", "customer"], name="tombstone_brand_customer")]

    def __str__(self):
        return f"#{self.customer_id}"
