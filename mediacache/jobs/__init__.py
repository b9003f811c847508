"""Running work in the background: runner.py (the worker pool; its work function is handed in by
create_app), run.py (one run of an entry's job: its cancel signal and progress), memory.py (heaps
capped and trimmed, long-lived objects frozen), extractorlimits.py (per-site limits on
concurrent jobs) and scheduler.py (runs the periodic jobs that media/periodic.py lists).
"""
