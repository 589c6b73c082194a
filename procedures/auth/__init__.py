"""Authentication: staff accounts (clerks, supervisors, admins), residents by wallet signature,
bearer tokens, single-use challenges; ``deps`` turns a bearer token into the typed caller
(merchant API keys through the token resolvers ``procedures.wiring`` installs)."""
