import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from apps.brands.models import Brand, Role
from apps.brands.services import membership_set


class Command(BaseCommand):
    help = "Create or update a staff login with a role in a brand; prints the password when it sets one."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--brand", required=True, help="brand slug")
        parser.add_argument("--role", choices=[r.value for r in Role], default=Role.VIEWER)
        parser.add_argument("--password", help="password to set; a random one is generated when omitted")
        parser.add_argument(
            "--keep-password", action="store_true", help="leave an existing user's password unchanged"
        )

    @transaction.atomic
    def handle(self, *args, username, brand, role, password, keep_password, **options):
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist as exc:
            raise CommandError(_("No brand with slug %(slug)s.") % {"slug": brand}) from exc
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
        set_password = created or not keep_password
        if set_password:
            password = password or secrets.token_urlsafe(12)
            user.set_password(password)
            user.is_staff = True
            user.save()
        membership_set(user=user, brand=brand_obj, role=role)
        self.stdout.write(
            _("Staff user %(user)s now has the %(role)s role in %(brand)s.")
            % {"user": username, "role": Role(role).label, "brand": brand}
        )
        if set_password:
            self.stdout.write(_("Password: %(password)s") % {"password": password})
