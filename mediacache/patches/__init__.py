"""Changes to a library's behaviour, one module per library."""
