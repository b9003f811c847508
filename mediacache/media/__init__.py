"""The domain: entries, the job pipeline, lifecycle, storage, rendering, hits, look-ups."""
