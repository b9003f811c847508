"""The outside world: yt-dlp, ffmpeg, the network guard, in-process container work.

ytdlp.py (yt-dlp's calls: extract, download, site_for), ytdlp_options.py (the one yt-dlp
configuration), ytdlp_downloader.py (the YoutubeDL it runs in, and the guard's self-check),
ytdlp_errors.py (a failed call mapped to its code; failures.py classifies yt-dlp's words),
ffmpeg.py (which binary; probe, demux, convert, remux), processes.py (a tool's process: its own
group, killed with the server, stopped on cancel or deadline), jobcontrol.py (Control, JobError,
JobCancelled: what every source run is stopped by and fails with), addresspolicy.py
(which hosts and addresses may be reached), netguard.py (that policy enforced up front and at
connect time), budget.py (a fetch's deadline and page-size limit, its sockets cut when spent),
jsruntime.py (the JavaScript runtime yt-dlp is given), metadata.py, containers/.
"""
