"""celeriac.config."""
