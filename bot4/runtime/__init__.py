"""bot4's runtime: wiring of threads, configuration, journal, control API, metrics, logging, the CLI."""
