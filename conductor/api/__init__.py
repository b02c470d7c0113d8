"""API v2 plumbing (versioning, envelope, errors, auth) and its views."""
