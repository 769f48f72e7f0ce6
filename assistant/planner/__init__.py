"""Planners: `router` (semantic routing + rule-based arguments, offline) and `llm_loop` (LLM tool calling)."""
