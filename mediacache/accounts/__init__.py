"""Users, tokens and the cached view of accounts that token checks use."""
