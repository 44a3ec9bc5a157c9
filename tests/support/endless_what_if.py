"""A what-if run that goes on until it is cancelled: for tests of cancelling a running job."""

import threading
from typing import Any


class UntilCancelled:
    """Stands in for the service; the job runner's own cancelling is what stops it."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def run(self, draft: Any, window: Any, progress: Any, kept: int, cancel: Any) -> None:
        self.started.set()
        cancel.wait(30)
        progress(0)  # the runner's progress raises once the job is cancelled
