"""Widgets of the two apps, one per file; each draws from plain data, never reads files."""
