"""Small helpers shared across celeriac."""
