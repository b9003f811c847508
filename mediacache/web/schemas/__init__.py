"""marshmallow schemas of every input and output of the API, one module per area of routes.

base.py (field types that read JSON and text alike, the list and error envelopes),
accounts.py (signing in, tokens, users), media.py (entries: queue, poll, list, delete; events;
look-ups), collections.py, webhooks.py, service.py (GET /api, administration, logs, stats).
Views validate with them and the OpenAPI document (web/openapi.py) is built from them.
"""
