"""Carthouse shared package: configuration, tenancy, auth, money, store and gRPC plumbing.

Every service imports from here; no service imports another service's modules.
The generated protobuf code lives in ``carthouse.v1`` (built from ``protos/`` by ``make gen``).
"""
