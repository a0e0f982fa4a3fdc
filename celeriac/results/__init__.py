"""celeriac.results."""
