import strawberry
import strawberry_django

from apps.brands import models


@strawberry_django.type(models.Brand)
class BrandType:
    id: strawberry.auto
    slug: strawberry.auto
    name: strawberry.auto
    timezone: strawberry.auto
    currency: strawberry.auto
