from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from growthloop.core.schemas import Strict

TargetType = Literal[
    "product", "flash_sale", "group_buy", "group", "bargain", "bargain_instance", "lottery", "page"
]
Channel = Literal["wechat_friend", "wechat_moments", "poster", "qr", "link", "other"]
TargetId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ShareIn(Strict):
    target_type: TargetType
    target_id: TargetId
    channel: Channel = "wechat_friend"


class ShareOut(BaseModel):
    code: str
    scene: str = Field(description="for a mini-program QR code (wxacode.getUnlimited), ≤ 32 chars")
    path: str = Field(description="the link to share; the page calls POST /v1/shares/{code}/open")
    target_type: TargetType
    target_id: str
    channel: Channel
    created_at: datetime


class MyShareOut(ShareOut):
    opens: int
    registrations: int
    purchases: int


class OpenIn(Strict):
    distinct_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="the visitor's anonymous device id, before login"
    )


class OpenedOut(BaseModel):
    code: str
    target_type: TargetType
    target_id: str
    mine: bool = Field(description="the visitor opened their own share (not counted)")
