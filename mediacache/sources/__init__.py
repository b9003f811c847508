"""The outside world: yt-dlp, ffmpeg, the network guard, in-process container work.

downloader.py (every yt-dlp and ffmpeg run, failures mapped to codes), netguard.py (which
hosts may be reached, enforced at connect time), metadata.py, containers/.
"""
