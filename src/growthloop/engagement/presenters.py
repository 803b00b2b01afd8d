"""Engagement's rows as the API shows them."""

from __future__ import annotations

from growthloop.engagement.models import Broadcast, InboxMessage
from growthloop.engagement.schemas import BroadcastOut, InboxMessageOut


def broadcast_out(broadcast: Broadcast) -> BroadcastOut:
    return BroadcastOut.model_validate(broadcast, from_attributes=True)


def inbox_message_out(message: InboxMessage) -> InboxMessageOut:
    return InboxMessageOut.model_validate(message, from_attributes=True)
