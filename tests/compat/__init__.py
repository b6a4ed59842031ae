"""Black-box compatibility suites: official Conductor SDKs, unchanged, against a live Baton."""
