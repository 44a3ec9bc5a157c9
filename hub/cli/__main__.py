"""`python -m hub.cli`: the same commands as `orderhub`."""

from hub.cli import app

app()
