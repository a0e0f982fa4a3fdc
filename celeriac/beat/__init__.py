"""celeriac.beat."""
