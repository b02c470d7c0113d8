"""API v2 for recovery: dead letters, circuit breakers, retry policies, error rules.

Routes in ``recovery.api.urls`` (included by ``conductor.api.urls``); one view per
operation, each an input serializer → one recovery service or selector → an output
serializer. Domain errors become problem+json in ``conductor.api.errors``.
"""
