"""Event-driven pipelines on OneInbox calls: the call-event trigger's events and their consumers."""
