"""Input types of ingestStreams and ingestStreamViews."""

from __future__ import annotations

import datetime

import strawberry

from apps.core.graphql.ingest import KEEP


@strawberry.input(name="StreamIngestInput", description="A live stream, created or updated by streamId.")
class StreamIngestInput:
    stream_id: str = strawberry.field(description="The brand's id for the stream, kept exactly as given.")
    started_at: datetime.datetime = strawberry.field(
        description="ISO 8601; without an offset it is the brand's local time."
    )
    title: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    host: str | None = strawberry.field(default=strawberry.UNSET, description=f"The host's name. {KEEP}")
    platform: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"douyin, kuaishou, taobao, wechat_channels or other (抖音 / 快手 / 淘宝 / 视频号 accepted). {KEEP}",
    )
    category: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    ended_at: datetime.datetime | None = strawberry.field(
        default=strawberry.UNSET, description=f"Not before startedAt. {KEEP}"
    )


@strawberry.input(
    name="StreamViewIngestInput",
    description="One customer's engagement in one live stream, created or updated by (streamId, customerId). "
    "A customer the brand does not know yet is created.",
)
class StreamViewIngestInput:
    stream_id: str = strawberry.field(description="streamId of a live stream ingested before.")
    customer_id: str = strawberry.field(description="The brand's id for the customer.")
    joined_at: datetime.datetime | None = strawberry.field(
        default=strawberry.UNSET, description=f"When the customer joined; default: the stream's start. {KEEP}"
    )
    watch_seconds: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")
    comments: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")
    likes: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")
    shares: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")
