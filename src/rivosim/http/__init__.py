"""The HTTP face of the engine: one WSGI app (``create_app``) with a blueprint per API."""
