"""OneInbox provider: triggers."""
