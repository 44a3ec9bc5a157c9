"""`orderhub worker` without --role: one process per role, each restarted when it exits.

Roles run as separate processes (a Faust app is one consumer group, and one consumer per
process), so a slow or stuck role never holds up another. A child that exits, whether killed
or leaving on its own because its consumer stalled, is started again after a short pause;
static group membership lets it take its partitions straight back.
"""

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from hub.settings import Settings
from hub.streaming.roles import Role

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
RESTART_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0)  # a child failing again waits longer
STEADY_SECONDS = 60.0  # a child that ran this long starts its next pause from the first


def _die_with_parent() -> None:
    # Linux: a child whose supervisor was killed (even by SIGKILL) is killed too.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class Supervisor:
    def __init__(self, settings: Settings, roles: Sequence[Role]) -> None:
        self._settings = settings
        self._roles = list(roles)
        self._children: dict[Role, subprocess.Popen[bytes]] = {}
        self._started_at: dict[Role, float] = {}
        self._failures: dict[Role, int] = {}
        self._stopping = False

    def _env(self, index: int) -> dict[str, str]:
        env = dict(os.environ)
        if self._settings.worker_health_port is not None:
            env["ORDERHUB_WORKER_HEALTH_PORT"] = str(self._settings.worker_health_port + index)
        return env

    def _start(self, role: Role) -> None:
        index = self._roles.index(role)
        self._children[role] = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker", "--role", role.value],
            env=self._env(index),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._started_at[role] = time.monotonic()
        log.info("worker %s started (pid %d)", role.value, self._children[role].pid)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        for child in self._children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for role in self._roles:
            self._start(role)
        while not self._stopping:
            time.sleep(0.5)
            for role, child in list(self._children.items()):
                code = child.poll()
                if code is not None and not self._stopping:
                    ran = time.monotonic() - self._started_at[role]
                    failures = 0 if ran > STEADY_SECONDS else self._failures.get(role, 0) + 1
                    self._failures[role] = failures
                    pause = RESTART_PAUSES[min(failures, len(RESTART_PAUSES) - 1)]
                    log.warning(
                        "worker %s exited with %s; restarting it in %.0fs", role.value, code, pause
                    )
                    time.sleep(pause)
                    self._start(role)
        deadline = time.monotonic() + 30
        for child in self._children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        return 0
