"""The domain: what happens to an entry, from queue to purge.

queueing.py (queue, reuse, restore, retry), entries.py (find, view, list, delete), pipeline.py
(one job: download, convert, publish), transitions.py (a job's status changes: claim, retry with
backoff, failure), encode.py and remux.py (a job's file, encoded or copied), lifecycle.py (expiry,
retention purge), capacity.py (bytes held against MAX_CACHE_BYTES, making room), reconcile.py (disk
and database made to agree, start-up recovery), periodic.py (the table of periodic jobs),
storage.py (the only code that touches the cache folders), render.py (entry → API document, the
row cache), hits.py (file hits counted in memory), lookup.py (metadata without downloading),
stats.py (counts by cache state and bytes held).
"""
