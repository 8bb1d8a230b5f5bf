"""
Event-driven pipelines on OneInbox calls: the feed that reads agents' call lists for
:class:`~airflow_provider_oneinbox.triggers.call_events.OneInboxCallEventTrigger`, the stores of
its durable cursor, and the resolution of a phone number to the agents that answer it.
"""
