"""In-process container work: Matroska/WebM reading, Ogg Opus writing, MP3 frame walking."""
