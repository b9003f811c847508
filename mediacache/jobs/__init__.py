"""Running work in the background: runner.py (the worker pool; its work function is handed in by
create_app), memory.py (heaps capped and trimmed, long-lived objects frozen)
and scheduler.py (runs the periodic jobs that media/lifecycle.py lists).
"""
