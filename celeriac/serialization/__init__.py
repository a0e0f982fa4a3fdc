"""Serializers (json, msgpack, yaml, pickle) and compression, keyed by name and content type."""
