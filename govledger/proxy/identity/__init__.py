"""Identity: sign-in sessions, their cookies and routes (OpenID Connect and SCIM to come)."""
