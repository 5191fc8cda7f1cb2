"""Group commit of submissions: one writer thread per server process stores the requests that arrive while it is
busy in one transaction.

A submission's own work (authentication, the checks against the cached catalogue) runs in parallel on the thread
pool; only storing it needs the database's write lock (on SQLite one lock for the whole file, across processes).
Taking that lock, committing and releasing it for every request costs about as much as the two inserts, and the
threads queueing on it leave cores idle. So the route hands its rows to :class:`SubmissionWriter` and waits: the
writer takes the first waiting submission and every other already queued, inserts them with one ``executemany``
per table and commits once. Nothing waits on a timer: a lone submission is written at once, and under load each
batch holds what arrived during the previous one.

A batch that fails for any reason (a unique key broken by a request id or an ``Idempotency-Key`` submitted
twice, perhaps within the batch; a value the database refuses) is rolled back whole and its submissions are
written one per transaction, so that only the failing one fails, with the error it would get alone: one
client's bad submission never fails another's.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

from sqlalchemy.engine import Engine

from api import crud

MAX_BATCH = 256

Submission = tuple[dict[str, Any], str]  # (the compute_request row's column values, the submitting user's name)


class SubmissionWriter:
    """Stores submissions through ``write_engine`` (an engine whose transactions take the write lock), batched.

    :meth:`enqueue` hands a submission over and returns a future that completes when it is committed (or fails
    with what storing it raised); the API awaits it on the event loop, so that submissions waiting for the
    (SQLite) write lock hold no thread of the pool that reads share. :meth:`insert` blocks until then.
    """

    def __init__(self, write_engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self._engine = write_engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Submission, Future[None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()

    def insert(self, values: dict[str, Any], actor: str) -> None:
        self.enqueue(values, actor).result()

    def enqueue(self, values: dict[str, Any], actor: str) -> Future[None]:
        if self._thread is None:
            with self._started:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="pcs-submission-writer", daemon=True)
                    thread.start()
                    self._thread = thread
        done: Future[None] = Future()
        self._queue.put(((values, actor), done))
        return done

    def pending(self) -> int:
        """Submissions queued and not yet taken into a batch."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[Submission, Future[None]]]) -> None:
        try:
            crud.insert_requests(self._engine, [submission for submission, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                batch[0][1].set_exception(error)
            else:
                for submission, done in batch:
                    self._write_alone(submission, done)
        except BaseException as error:  # every caller of the batch gets it, and the thread goes on
            for _, done in batch:
                done.set_exception(error)
        else:
            for _, done in batch:
                done.set_result(None)

    def _write_alone(self, submission: Submission, done: Future[None]) -> None:
        try:
            crud.insert_requests(self._engine, [submission])
        except BaseException as error:  # it belongs to this submission's caller
            done.set_exception(error)
        else:
            done.set_result(None)
