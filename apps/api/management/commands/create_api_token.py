from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.api.services import api_token_create
from apps.brands.models import Brand, Role
from apps.core.commands import Command as ProjectCommand


class Command(ProjectCommand):
    help = gettext_lazy(
        "Create an API token of a brand with a role and print it. The token is shown only this once; "
        "only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--role", required=True, help=gettext_lazy("viewer, analyst or manager"))
        parser.add_argument("--name", default="", help=gettext_lazy("what the token is for, e.g. the app"))

    def handle(self, *args, brand, role, name, **options):
        if role not in Role.values:
            raise CommandError(_("Unknown role %(role)s: use viewer, analyst or manager.") % {"role": role})
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist as exc:
            raise CommandError(_("No brand with slug %(slug)s.") % {"slug": brand}) from exc
        try:
            token, plaintext = api_token_create(brand=brand_obj, role=role, name=name)
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(_("Cannot create the API token: %(errors)s") % {"errors": messages}) from exc
        self.stdout.write(
            _("Created API token %(prefix)s with the %(role)s role in %(brand)s.")
            % {"prefix": token.key_prefix, "role": Role(role).label, "brand": brand_obj.slug}
        )
        self.stdout.write(_("Store it now; it is not shown again:"))
        self.stdout.write(plaintext)
