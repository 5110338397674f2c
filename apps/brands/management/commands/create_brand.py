from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.brands.services import brand_create
from apps.core.commands import Command as ProjectCommand


class Command(ProjectCommand):
    help = gettext_lazy("Create a brand (idempotent) with its default tiers and benefits.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help=gettext_lazy("the brand's slug: letters, digits, - and _"))
        parser.add_argument("--name", required=True, help=gettext_lazy("the brand's name"))
        parser.add_argument(
            "--timezone",
            help=gettext_lazy(
                "IANA time zone, e.g. Asia/Shanghai (a new brand's default; kept when omitted)"
            ),
        )
        parser.add_argument(
            "--currency",
            help=gettext_lazy("ISO 4217 code, e.g. CNY (a new brand's default; kept when omitted)"),
        )

    def handle(self, *args, slug, name, timezone, currency, **options):
        try:
            brand, created = brand_create(
                slug=slug, name=name, timezone=timezone, currency=currency.upper() if currency else None
            )
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(
                _("Cannot create brand %(slug)s: %(errors)s") % {"slug": slug, "errors": messages}
            ) from exc
        if created:
            self.stdout.write(self.style.SUCCESS(_("Created brand %(slug)s.") % {"slug": brand.slug}))
        else:
            self.stdout.write(
                _("Brand %(slug)s already exists; updated its settings.") % {"slug": brand.slug}
            )
