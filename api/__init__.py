"""The panen HTTP API (FastAPI): thin routes over the registry, the store and the forecast service.

Errors are RFC 9457 problem details (``application/problem+json``); every 4xx says what was wrong.
"""
