"""Plain Python the rest builds on: no Flask, no database, no I/O."""
