"""The HTTP API (FastAPI): thin routes that turn HTTP into commands or read a projection."""
