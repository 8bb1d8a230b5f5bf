"""OneInbox provider: sensors."""
