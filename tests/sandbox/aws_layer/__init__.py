"""Sandbox AWS endpoint: moto's server behind a WSGI layer that adds fault injection, a request log,
S3 rules moto lacks (DeleteObjects limit, atomic conditional writes) and ECS task outcomes.

Run it with ``python -m tests.sandbox.aws_layer`` (see README.md). Importing this package does not
import moto.
"""
