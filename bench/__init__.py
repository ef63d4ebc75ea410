"""Benchmarks: each module runs with ``python -m bench.NAME`` and prints one JSON line last.

They start the real services they measure (see :mod:`panen.devservices`) and assert nothing about
time; the figures go into the issues' closing notes.
"""
