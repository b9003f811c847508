"""The database: the extension, the models, schema set-up and migrations, and what every layer above reads.

extensions.py, models.py, database.py (SQLite set-up, migrations, damage detection), pagination.py,
settings.py (runtime settings), audit.py (the audit log: media/, accounts/ and ops/ all write it),
media_repo.py (every write of a Media row, and the row-cache drops that go with it).
"""
