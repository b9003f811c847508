"""The database: extension, models, schema set-up, pagination, runtime settings, the audit log."""
