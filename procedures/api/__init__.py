"""HTTP plumbing every room shares: request dependencies that need no caller (``deps``), the body
guard in front of every route (``guard``), and health and metrics (``health``)."""
