"""Accounts: users.py (credentials, registration, user management), tokens.py (issue, revoke, whether
a token's claims still hold) and authcache.py (accounts and revocations held briefly in memory).
"""
