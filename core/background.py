"""Messages to Celery that no answer waits for: sent by one background thread per process.

After a commit the request asks Celery for follow-up work (a thumbnail, an outbox delivery, the SMS).
Sending costs a broker round trip when Redis is up, and several seconds of the Redis client's connection
retries when it is down (the photo drill in tests/security/test_fault_drills.py measured 12 s); neither
belongs in the answer. ``send_task`` queues the send here and returns at once; the thread sends, and a
failure is logged: the work is in the database and a beat task picks it up (thumbnails, outbox, SMS
all have one). ``wait_idle`` lets tests and commands wait for what is queued.
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import threading

log = logging.getLogger(__name__)


class _Sender:
    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, task, options: dict) -> None:
        self.queue.put((task, options))
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="celery-send", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            task, options = self.queue.get()
            try:
                # retry=False: a dead broker fails this send instead of retrying it for ever;
                # ignore_result: nobody waits for these results (no subscription to a result store)
                task.apply_async(retry=False, ignore_result=True, **options)
            except Exception:  # noqa: BLE001 - the broker's errors are many; the work waits in the database
                log.warning("%s not queued; its beat task does it later", task.name, exc_info=True)
            finally:
                self.queue.task_done()

    def wait_idle(self, timeout: float) -> bool:
        done = threading.Event()

        def join() -> None:
            self.queue.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout)


_sender = _Sender()


def send_task(task, **options) -> None:
    """Ask Celery for ``task`` (apply_async's ``args``, ``queue``, ...) without waiting for the broker."""
    _sender.submit(task, options)


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait until every queued send was made or failed; return False on timeout."""
    return _sender.wait_idle(timeout)


def _after_fork() -> None:
    global _sender
    _sender = _Sender()  # the parent's thread does not exist in the child


os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _drain_at_exit() -> None:
    """Send what a command queued before the process ends (a short wait: beat covers the rest)."""
    if _sender.queue.unfinished_tasks:
        _sender.wait_idle(5)
