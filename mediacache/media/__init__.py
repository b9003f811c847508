"""The domain: what happens to an entry, from queue to purge.

entries.py (queue, reuse, restore, delete, list), pipeline.py (one job), lifecycle.py (expiry,
retention, reconcile, capacity, start-up recovery, the table of periodic jobs), storage.py (the
only code that touches the cache folders), render.py (entry → API document, the row cache),
hits.py (file hits counted in memory), lookup.py (metadata without downloading), stats.py (counts
by cache state and bytes held).
"""
