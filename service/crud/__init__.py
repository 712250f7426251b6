"""Keyword-only database functions that take the session and return ORM objects. Raising a `service.errors`
exception means nothing was written."""
