"""manage.py erase_customer: the erasure of the admin action and the eraseCustomer mutation, for scripts."""

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.brands.models import Brand
from apps.core.commands import Command as ProjectCommand
from apps.customers.models import Customer, ErasureTombstone
from apps.customers.selectors import tombstone_digest
from apps.customers.services import customer_erase

ACTOR_LABEL = "manage.py erase_customer"


class Command(ProjectCommand):
    help = gettext_lazy(
        "Erase one customer's personal data for good (name, phone, e-mail, profile, free-text notes; the "
        "external id is replaced and remembered only as a keyed hash, so re-imports cannot bring it back). "
        "Orders and the brand's figures stay. Recorded in the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument(
            "--customer-id", dest="customer_id", help=gettext_lazy("the customer's external id in the brand")
        )
        parser.add_argument(
            "--customer-pk",
            dest="customer_pk",
            type=int,
            help=gettext_lazy(
                "the customer's id in this product (as the admin shows it); with --customer-id both must "
                "name the same customer"
            ),
        )

    def handle(self, *args, brand, customer_id, customer_pk, **options):
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist:
            raise CommandError(_("Unknown brand: %(slug)s") % {"slug": brand}) from None
        if customer_id is not None:
            customer_id = customer_id.strip()
        if not customer_id and customer_pk is None:
            raise CommandError(_("Give --customer-id (the external id) or --customer-pk."))
        customer = self._customer(brand_obj, customer_id, customer_pk)
        customer, erased_now = customer_erase(
            brand=brand_obj, customer_id=customer.pk, actor=None, actor_label=ACTOR_LABEL
        )
        when = timezone.localtime(customer.erased_at, brand_obj.tzinfo).isoformat()
        if erased_now:
            message = _(
                "Erased the personal data of customer #%(pk)d of brand %(brand)s; its external id is now "
                "%(token)s. Recorded in the audit trail."
            )
        else:
            message = _(
                "Customer #%(pk)d of brand %(brand)s was already erased (at %(when)s); nothing changed."
            )
        self.stdout.write(
            message
            % {"pk": customer.pk, "brand": brand_obj.slug, "token": customer.external_id, "when": when}
        )

    def _customer(self, brand: Brand, customer_id: str | None, customer_pk: int | None) -> Customer:
        """The customer the options name, or a CommandError saying why none (the id itself is not repeated:
        it may be the very id being erased)."""
        by_id = None
        if customer_id:
            by_id = Customer.objects.filter(brand=brand, external_id=customer_id).first()
            if by_id is None:
                tombstone = (
                    ErasureTombstone.objects.filter(
                        brand=brand, digest=tombstone_digest(brand.pk, customer_id)
                    )
                    .select_related("customer")
                    .first()
                )
                if tombstone is not None:
                    by_id = tombstone.customer  # erased before: the command says so and changes nothing
        if customer_pk is not None:
            by_pk = Customer.objects.filter(brand=brand, pk=customer_pk).first()
            if by_pk is None:
                raise CommandError(
                    _("--customer-pk: brand %(brand)s has no customer #%(pk)d.")
                    % {"brand": brand.slug, "pk": customer_pk}
                )
            if customer_id and by_id is not None and by_id.pk != by_pk.pk:
                raise CommandError(
                    _(
                        "--customer-id and --customer-pk name different customers (#%(by_id)d and #%(by_pk)d); "
                        "nothing was erased."
                    )
                    % {"by_id": by_id.pk, "by_pk": by_pk.pk}
                )
            if customer_id and by_id is None:
                raise CommandError(
                    _(
                        "--customer-id: brand %(brand)s has no customer with this external id (customer "
                        "#%(pk)d has another one); nothing was erased."
                    )
                    % {"brand": brand.slug, "pk": by_pk.pk}
                )
            return by_pk
        if by_id is None:
            raise CommandError(
                _("--customer-id: brand %(brand)s has no customer with this external id; nothing was erased.")
                % {"brand": brand.slug}
            )
        return by_id
