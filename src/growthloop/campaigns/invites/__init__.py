"""Invites (邀请有礼): reward rules for bringing new members, on sign-up or first paid order."""
