"""Sentinelle: a conversational geo-assistant for satellite imagery."""

__version__ = "0.1.0"
