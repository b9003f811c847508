"""Everything that knows HTTP: routes, the error envelope, schemas, OpenAPI, middleware, the fast path."""
