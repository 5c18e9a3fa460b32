"""Offline toy world: arithmetic problems, a shared tokenizer, a zoo of tiny Qwen3-shaped models."""
