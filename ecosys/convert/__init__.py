"""Converters from other checkpoint formats to `transformers` directories."""
