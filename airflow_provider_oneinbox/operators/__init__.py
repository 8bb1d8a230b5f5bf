"""OneInbox provider: operators."""
