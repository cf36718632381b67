"""Cited question answering over Arabic and English news articles."""
