"""The outside world: yt-dlp, ffmpeg, the network guard, in-process container work."""
