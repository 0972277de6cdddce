"""Python SDK for agency systems: publish typed events, wait for receipts, consume the inbox."""

from referral_bus.sdk.client import AgencyClient, InboxItem, PersonalDataUnavailable, PublishError

__all__ = ["AgencyClient", "InboxItem", "PersonalDataUnavailable", "PublishError"]
