"""Idempotent seed of the sandbox AWS account: buckets, ECR image, ECS network/cluster/task
definition, a baseline backup and one published run with its pointers.

Run it with ``python -m tests.sandbox.seed`` from the repository root (see
``tests/sandbox/aws_layer/README.md``).
"""
