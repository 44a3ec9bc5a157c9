"""The operations console (HTML pages under /console)."""

from hub.api.console.routes import router

__all__ = ["router"]
