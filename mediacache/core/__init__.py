"""Plain Python the rest builds on: no Flask, no database, no I/O (import-linter holds it to that).

errors.py (DomainError and its codes), states.py (Status, CacheState, the state sets, "valid"),
profiles.py, urls.py, names.py (file names from a source's words), principal.py (who is calling), gauges.py,
locking.py, refreshing.py, timeutil.py.
"""
