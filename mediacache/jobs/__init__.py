"""Running work in the background: the job runner."""
