"""OneInbox provider: hooks."""
