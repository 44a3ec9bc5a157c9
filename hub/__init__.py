"""The application: settings, services, wiring of the two modes, Faust worker, API, CLI."""
