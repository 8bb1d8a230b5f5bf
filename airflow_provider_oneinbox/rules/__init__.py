"""
The provider's pure rules: call statuses, readiness of post-call data, backoff, the watch of one
wait and its events, the wait policy.

The leaf layer of the package: its modules import the standard library and each other, and
nothing else of the provider, so the hooks, triggers, poller, worker-side wait and operators can
all import them without a cycle (``tests/test_import_graph.py`` checks it).
"""
