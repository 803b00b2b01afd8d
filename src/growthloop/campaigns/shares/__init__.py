"""Share tracking: share codes for (member, target, channel) and what each brought."""
