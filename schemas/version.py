"""The trd-cds version: one constant, read by the packaging (``pyproject.toml`` takes it as
the distribution's version) and written into every report's provenance (``engine_version``).
A constant, not :mod:`importlib.metadata`, so that reading it costs no import at start-up."""

VERSION = "0.1.0"
