"""Bulk benefit grants from the customer list: "Grant a benefit" and "Revoke open grants" for the selected
customers of one brand, after a confirmation page offering the brand's benefits only. Both call the loyalty
services the grantBenefit and revokeBenefitGrant mutations call."""

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.scoping import brand_ids_for_user, user_may
from apps.customers.models import Customer
from apps.loyalty import services as loyalty_services
from apps.loyalty.models import Benefit, BenefitGrant, GrantSource

GRANT_PERMISSION = "loyalty.add_benefitgrant"
REVOKE_PERMISSION = "loyalty.change_benefitgrant"
BULK_SAMPLE = 20  # selected customers named on the confirmation page
SKIP_REASONS = {
    loyalty_services.SKIP_QUOTA: _("already at their tier's quota of this benefit"),
    loyalty_services.SKIP_OPTED_OUT: _("opted out of automated decisions"),
}


class BulkGrantForm(forms.Form):
    """The benefit to grant, among the brand's active benefits only, and how the grant is recorded."""

    benefit = forms.ModelChoiceField(queryset=Benefit.objects.none(), label=_("benefit"))
    source = forms.ChoiceField(
        label=_("source"),
        choices=[(s.value, s.label) for s in loyalty_services.GRANTABLE_SOURCES],
        initial=GrantSource.MANUAL,
        help_text=_(
            "Manual: a staff decision, reaches every selected customer. Campaign: an automated decision, "
            "skips customers who opted out of automated decisions."
        ),
    )
    note = forms.CharField(label=_("note"), max_length=200, required=False)

    def __init__(self, *args, brand, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["benefit"]
        field.queryset = Benefit.objects.filter(brand=brand, is_active=True).order_by("kind", "code")
        field.label_from_instance = lambda benefit: f"{benefit.display_name} ({benefit.get_kind_display()})"


class BulkRevokeForm(forms.Form):
    """The benefit whose open grants are revoked, among the brand's benefits the selection holds."""

    benefit = forms.ModelChoiceField(queryset=Benefit.objects.none(), label=_("benefit"))

    def __init__(self, *args, brand, held: dict[int, int], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["benefit"]
        field.queryset = Benefit.objects.filter(brand=brand, pk__in=list(held)).order_by("kind", "code")
        field.label_from_instance = lambda benefit: (
            ngettext(
                "%(benefit)s (%(count)d open grant)", "%(benefit)s (%(count)d open grants)", held[benefit.pk]
            )
            % {"benefit": benefit.display_name, "count": held[benefit.pk]}
        )


class BulkGrantActions:
    """The customer admin's bulk grant actions (a mixin of CustomerAdmin)."""

    def has_grant_permission(self, request):
        """The bulk grant actions are offered to those who may grant benefits in one of their brands (managers)."""
        ids = brand_ids_for_user(request.user)
        if ids is None:
            return True
        return any(user_may(request.user, brand_id, GRANT_PERMISSION) for brand_id in ids)

    def _grant_target(self, request, queryset, permission):
        """(brand, customer ids) of the selection, or None once the user has been told why not: the customers
        must be of one brand (benefits belong to a brand), at most GRANT_BATCH_MAX of them, and the user's role
        in that brand must allow `permission`."""
        from apps.brands.models import Brand

        limit = loyalty_services.GRANT_BATCH_MAX
        selected = list(queryset.order_by().values_list("pk", "brand_id")[: limit + 1])
        if len(selected) > limit:
            self.message_user(
                request,
                _("Choose at most %(max)d customers at a time for benefit grants.") % {"max": limit},
                messages.ERROR,
            )
            return None
        brand_ids = {brand_id for _pk, brand_id in selected}
        if len(brand_ids) != 1:
            self.message_user(
                request, _("Choose customers of one brand: benefits belong to a brand."), messages.ERROR
            )
            return None
        brand_id = brand_ids.pop()
        if not user_may(request.user, brand_id, permission):
            raise PermissionDenied
        return Brand.objects.get(pk=brand_id), sorted(pk for pk, _brand in selected)

    def _bulk_grant_page(self, request, *, action, title, brand, ids, form, intro):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "brand": brand,
            "ids": ids,
            "count": len(ids),
            "sample": list(
                Customer.objects.filter(brand=brand, pk__in=ids[:BULK_SAMPLE])
                .order_by("external_id")
                .values_list("external_id", flat=True)
            ),
            "more": max(len(ids) - BULK_SAMPLE, 0),
            "form": form,
            "intro": intro,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/customers/customer/bulk_grants.html", context)

    @admin.action(description=_("Grant a benefit"), permissions=["grant"])
    def grant_benefit(self, request, queryset):
        """Grant one of the brand's active benefits to the selected customers (loyalty.services.benefit_grant,
        as the grantBenefit mutation): customers at their tier's quota of it, and for a campaign grant those
        who opted out of automated decisions, are skipped and counted with the reason."""
        target = self._grant_target(request, queryset, GRANT_PERMISSION)
        if target is None:
            return None
        brand, ids = target
        form = BulkGrantForm(request.POST if "apply" in request.POST else None, brand=brand)
        if form.is_bound and form.is_valid():
            benefit = form.cleaned_data["benefit"]
            try:
                result = loyalty_services.benefit_grant(
                    brand=brand,
                    benefit=benefit,
                    customer_ids=ids,
                    source=form.cleaned_data["source"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return None
            granted = len(result.grants)
            self.message_user(
                request,
                ngettext(
                    "Granted %(benefit)s to %(count)d customer.",
                    "Granted %(benefit)s to %(count)d customers.",
                    granted,
                )
                % {"benefit": benefit.display_name, "count": granted},
                messages.SUCCESS if granted else messages.INFO,
            )
            if result.skipped:
                reasons = Counter(skip["code"] for skip in result.skipped)
                self.message_user(
                    request,
                    ngettext(
                        "Skipped %(count)d customer: %(reasons)s.",
                        "Skipped %(count)d customers: %(reasons)s.",
                        len(result.skipped),
                    )
                    % {
                        "count": len(result.skipped),
                        "reasons": "; ".join(
                            f"{SKIP_REASONS.get(code, code)} ({n})" for code, n in sorted(reasons.items())
                        ),
                    },
                    messages.WARNING,
                )
            return None
        return self._bulk_grant_page(
            request,
            action="grant_benefit",
            title=_("Grant a benefit"),
            brand=brand,
            ids=ids,
            form=form,
            intro=_(
                "Each selected customer gets one grant of the benefit, valid from now for the benefit's validity. "
                "Customers who already hold their tier's quota of it are skipped; a campaign grant also skips "
                "customers who opted out of automated decisions."
            ),
        )

    @admin.action(description=_("Revoke open grants"), permissions=["grant"])
    def revoke_open_grants(self, request, queryset):
        """Revoke the selected customers' open grants (unredeemed, unrevoked, unexpired) of one benefit of the
        brand (loyalty.services.benefit_grant_revoke, as the revokeBenefitGrant mutation)."""
        target = self._grant_target(request, queryset, REVOKE_PERMISSION)
        if target is None:
            return None
        brand, ids = target
        now = timezone.now()
        open_grants = BenefitGrant.objects.filter(brand=brand, customer_id__in=ids).open(at=now)
        held = dict(open_grants.order_by().values_list("benefit_id").annotate(n=Count("pk")))
        if not held:
            self.message_user(request, _("The selected customers hold no open grant."), messages.INFO)
            return None
        form = BulkRevokeForm(request.POST if "apply" in request.POST else None, brand=brand, held=held)
        if form.is_bound and form.is_valid():
            benefit = form.cleaned_data["benefit"]
            revoked, customers, failed = 0, set(), Counter()
            for grant in open_grants.filter(benefit=benefit).order_by("pk"):
                try:
                    loyalty_services.benefit_grant_revoke(grant=grant, when=now, actor=request.user)
                except ValidationError as exc:  # redeemed or revoked since the page was shown
                    failed[" ".join(exc.messages)] += 1
                    continue
                revoked += 1
                customers.add(grant.customer_id)
            self.message_user(
                request,
                ngettext(
                    "Revoked %(count)d open grant of %(benefit)s (%(customers)d customers).",
                    "Revoked %(count)d open grants of %(benefit)s (%(customers)d customers).",
                    revoked,
                )
                % {"count": revoked, "benefit": benefit.display_name, "customers": len(customers)},
                messages.SUCCESS if revoked else messages.INFO,
            )
            if failed:
                self.message_user(
                    request,
                    _("Skipped %(count)d grant(s): %(reasons)s")
                    % {
                        "count": sum(failed.values()),
                        "reasons": "; ".join(f"{reason} ({n})" for reason, n in sorted(failed.items())),
                    },
                    messages.WARNING,
                )
            return None
        return self._bulk_grant_page(
            request,
            action="revoke_open_grants",
            title=_("Revoke open grants"),
            brand=brand,
            ids=ids,
            form=form,
            intro=_(
                "The selected customers' open grants of the benefit (not redeemed, revoked or expired) are "
                "revoked now. Redeemed grants stay as they are."
            ),
        )
