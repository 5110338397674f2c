"""Input and payload types of the customers app's mutations (ingestCustomers, eraseCustomer)."""

from __future__ import annotations

import datetime

import strawberry
from strawberry import relay

from apps.core.graphql.ingest import KEEP


@strawberry.input(name="CustomerIngestInput", description="A customer, created or updated by customerId.")
class CustomerIngestInput:
    customer_id: str = strawberry.field(description="The brand's id for the customer, kept exactly as given.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description=f"Display name. {KEEP}")
    phone: str | None = strawberry.field(default=strawberry.UNSET, description=f"Phone number. {KEEP}")
    email: str | None = strawberry.field(default=strawberry.UNSET, description=f"E-mail address. {KEEP}")
    gender: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"female, male or unknown (女 / 男 accepted). {KEEP}"
    )
    birth_year: int | None = strawberry.field(default=strawberry.UNSET, description=f"1900–2100. {KEEP}")
    age: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Age in years; only its age band is stored (when ageBand is not given).",
    )
    age_band: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"<18, 18-24, 25-34, 35-44, 45-54 or 55+. {KEEP}"
    )
    province: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    city: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    acquisition_channel: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"live_stream, short_video, search, community, referral, ads, offline or other. {KEEP}",
    )
    acquisition_stream_id: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"streamId of the live stream that brought the customer. {KEEP}"
    )
    first_seen_at: datetime.datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"ISO 8601; without an offset it is the brand's local time. {KEEP}",
    )
    marketing_consent: bool | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    automated_decisions_opt_out: bool | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    preferred_touch_channel: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"sms, wechat, wecom, email, app_push or none. {KEEP}"
    )


@strawberry.type(name="EraseCustomerPayload", description="The outcome of eraseCustomer.")
class EraseCustomerPayload:
    customer_id: relay.GlobalID = strawberry.field(description="The customer's relay id (unchanged).")
    erased_at: datetime.datetime = strawberry.field(description="When the personal data was erased.")
    erased_now: bool = strawberry.field(
        description="False when the customer had already been erased (nothing changed)."
    )
    brand_id: strawberry.Private[int | None] = None
