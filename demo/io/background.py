"""Overlapping I/O with model work: an iterator produced in a background thread, and a
sink consumed in one.

PyAV decodes and encodes with the GIL released, so a decoder thread fills a short queue
while the main thread runs the networks, and an encoder thread drains rendered frames.
Both sides stop cleanly: if the consumer stops early or raises, the producer thread is
told to stop and joined (no hang, no leaked thread); an error in the producer is raised
in the consumer, with its traceback. Both are context managers (use them in ``with`` or
an :class:`contextlib.ExitStack`): leaving the block stops and joins the thread whatever
happened. Misuse raises instead of blocking or dropping items: a :class:`Prefetch` is
iterated once; a :class:`BackgroundSink` takes no item after :meth:`BackgroundSink.close`.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """Iterate ``source`` in a background thread, ``depth`` items ahead.

    Attributes:
        produce_seconds: time the background thread spent producing items (e.g. decoding).
        wait_seconds: time the consumer spent waiting for an item (the pipeline was idle).
    """

    def __init__(self, source: Iterable[T], depth: int = 8, name: str = "prefetch") -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self.produce_seconds = 0.0
        self.wait_seconds = 0.0
        self._iterated = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        iterator = iter(self._source)
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                finally:
                    self.produce_seconds += time.perf_counter() - start
                if not self._put(item):
                    break
            self._put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(_Failure(e))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # a generator's finally (closing the video file) runs in its own thread

    def __iter__(self) -> Iterator[T]:
        if self._iterated:
            raise RuntimeError("a Prefetch is iterated once: its items were taken by the first loop")
        self._iterated = True
        return self._items()

    def _items(self) -> Iterator[T]:
        try:
            while True:
                start = time.perf_counter()
                item = self._queue.get()
                self.wait_seconds += time.perf_counter() - start
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the producer and wait for it."""
        self._stop.set()
        self._thread.join()


class BackgroundSink(Generic[T]):
    """Calls ``consume(item)`` for every :meth:`put` item in a background thread, in order.

    :meth:`close` waits for the queue to drain and re-raises the first error of ``consume``;
    after an error further puts raise it at once.

    Attributes:
        consume_seconds: time spent in ``consume`` (e.g. encoding).
    """

    def __init__(self, consume: Callable[[T], None], depth: int = 8, name: str = "sink") -> None:
        self._consume = consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._closed = False
        self.consume_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __enter__(self) -> BackgroundSink[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Stop the thread; after an error in the block, the consumer's own error (a
        consequence) is not raised over it."""
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except BaseException:  # noqa: BLE001 - the block's error is the one to report
            pass

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is not None:
                continue  # drain without work after a failure
            start = time.perf_counter()
            try:
                self._consume(item)  # type: ignore[arg-type]
            except BaseException as e:  # noqa: BLE001 - raised in the producer's thread
                self._error = e
            self.consume_seconds += time.perf_counter() - start

    def put(self, item: T) -> None:
        if self._closed:
            raise RuntimeError("put into a closed BackgroundSink: the item would be dropped")
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def close(self) -> None:
        """Wait until everything put has been consumed; raise the consumer's error if any."""
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        if self._error is not None:
            raise self._error
