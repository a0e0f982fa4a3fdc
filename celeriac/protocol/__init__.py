"""Pure, I/O-free codecs for Celery's wire formats (see shared/design/wire-protocol.md)."""
