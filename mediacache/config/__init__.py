"""Configuration: defaults → instance/config.py → MEDIACACHE_* environment (.env) → test mapping.

settings.py declares every setting once, with its default and its parser, grouped by area;
parsers.py holds the parsers, so a value from Python (instance file, tests) and the same value
as a string (environment) are read and validated alike; loading.py merges the layers, runs the
checks that span settings and settles the secret key. A bad value stops start-up (ConfigError)
with a message naming the variable.
"""
