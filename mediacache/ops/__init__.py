"""Operating the service: health.py (/api/health), metrics.py (Prometheus; gauges declared by their
owners), reporting.py (stats, request logs), admin.py (job queues, batch actions, runtime
settings), logging.py (one line per request, written by one thread).
"""
