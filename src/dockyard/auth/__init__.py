"""Principals, authenticators, tokens and the one policy that decides access."""
