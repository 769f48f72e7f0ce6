"""Shared test helpers (servers, fakes)."""
