"""API authentication and authorization.

- ``keys``: application keys (key id + secret, only a hash of the secret stored) and the
  short-lived cache of their state that every authenticated request consults.
- ``tokens``: the signed, expiring tokens ``POST /api/token`` trades for a key id + secret and
  that clients send back in ``X-Authorization``.
- ``permissions``: the role table, (method, path) -> least role, fail-closed.
- ``middleware``: enforces all of the above on every path under /api/ (and /health), so views
  never carry security code and a new endpoint is covered the moment it is routed.
"""
