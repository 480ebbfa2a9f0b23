"""Access: accounts, users, sessions, tokens, the audit trail, media views."""
