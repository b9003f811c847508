"""Everything that knows HTTP; nothing below this layer does.

errors.py (the code → status table and the envelope), schemas/ (one module per area), openapi.py, middleware.py,
requestid.py, bearer.py (a request's token), access.py (who may call a route), params.py,
fastpath.py (answers in front of Flask's dispatch), cors.py, security.py, routes/.
"""
