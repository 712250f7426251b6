"""Database layer: declarative base, tables, engine and sessions."""
