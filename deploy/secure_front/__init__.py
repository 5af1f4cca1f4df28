"""The local stack's stand-in for a secured Elasticsearch: a TLS front with a private CA that accepts one API key or
one user and password, and answers anything else as Elasticsearch's security does (`python -m deploy.secure_front`)."""
