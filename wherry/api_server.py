"""The HTTP API served by uvicorn on a thread, so the bridge and the API share one process."""

from __future__ import annotations

import logging
import threading

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class ApiServer:
    """uvicorn on a background thread; the main thread keeps the signals and the shutdown."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,  # a live-stream client that stopped reading can't hold us
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        stopped_early = threading.Event()
        deadline_step = 0.05
        waited = 0.0
        while not self._server.started and waited < timeout:
            if not self._thread.is_alive():
                stopped_early.set()
                break
            self._thread.join(deadline_step)
            waited += deadline_step
        if stopped_early.is_set() or not self._server.started:
            raise RuntimeError(f"the HTTP API could not listen on {self.url} (port taken?)")
        log.info("HTTP API at %s (docs at %s/docs)", self.url, self.url)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
