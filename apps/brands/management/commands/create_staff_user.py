from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.brands.models import Brand, Role
from apps.brands.services import staff_user_ensure
from apps.core.commands import Command as ProjectCommand


class Command(ProjectCommand):
    help = gettext_lazy(
        "Create or update a staff login with a role in a brand; prints the password when it sets one."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--role", choices=[r.value for r in Role], default=Role.VIEWER)
        parser.add_argument(
            "--password", help=gettext_lazy("password to set; a random one is generated when omitted")
        )
        parser.add_argument(
            "--keep-password",
            action="store_true",
            help=gettext_lazy("leave an existing user's password unchanged"),
        )

    def handle(self, *args, username, brand, role, password, keep_password, **options):
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist as exc:
            raise CommandError(_("No brand with slug %(slug)s.") % {"slug": brand}) from exc
        if password is not None:
            # the settings' password rules, as the admin's password form applies them
            try:
                validate_password(password, user=get_user_model()(username=username))
            except ValidationError as exc:
                raise CommandError(
                    _("The password is refused: %(reasons)s") % {"reasons": " ".join(exc.messages)}
                ) from None
        _user, new_password = staff_user_ensure(
            username=username, brand=brand_obj, role=role, password=password, keep_password=keep_password
        )
        self.stdout.write(
            _("Staff user %(user)s now has the %(role)s role in %(brand)s.")
            % {"user": username, "role": Role(role).label, "brand": brand}
        )
        if new_password is not None:
            self.stdout.write(_("Password: %(password)s") % {"password": new_password})
