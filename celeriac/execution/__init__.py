"""celeriac.execution."""
