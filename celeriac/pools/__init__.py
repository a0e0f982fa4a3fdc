"""celeriac.pools."""
