"""OneInbox provider: links."""
