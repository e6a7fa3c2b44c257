"""AdminService: appspaces and API keys (internal; needs the admin token)."""
