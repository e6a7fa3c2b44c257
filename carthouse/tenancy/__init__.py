"""Appspaces (tenants), their plans and API keys."""
