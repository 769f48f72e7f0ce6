"""Deployment helpers that are Python code (batch indexing); the rest of deploy/ is configuration."""
