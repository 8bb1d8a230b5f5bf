"""
The batch export of calls (``OneInboxExportCallsOperator``): which calls belong to an interval, the
normalised line written for each, where the file goes and how it is replaced, and the recording
archive. ``docs/export.md`` explains the design.

Modules: ``spec`` (the validated arguments; standard library only, so the operator can check them
when the DAG is parsed), ``collect`` (the bounded walk and the wait for post-call data), ``lines``
(one JSON line per call), ``destination`` (fsspec / ``ObjectStoragePath``, atomic publish),
``archive`` (recordings) and ``run`` (the whole export).
"""
