"""Authentication: staff accounts (clerks, supervisors, admins), residents by wallet signature,
bearer tokens, single-use challenges; ``procedures.deps`` turns them into typed principals."""
