"""OneInbox provider: hooks."""

#: The connection the hooks and operators use unless told otherwise. Defined here, not in
#: :mod:`.settings`, so that operators can name it without importing the settings at DAG parse.
DEFAULT_CONN_ID = "oneinbox_default"
