"""The batcher: by size and time, acknowledgements only after the sink took the items."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from gateway_bridge.batcher import Batcher, Rejected


class Sink:
    """A sink that records batches and can be told to fail or to refuse some items."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.down = False
        self.refuse: set[int] = set()
        self.calls = 0

    def __call__(self, items: Sequence[int]) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("store is down")
        if self.refuse & set(items):
            raise Rejected(f"refused {sorted(self.refuse & set(items))}")
        self.batches.append(list(items))

    @property
    def taken(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


def make(sink: Sink, rejected: list[int] | None = None, **kw: float) -> Batcher[int]:
    batcher: Batcher[int] = Batcher(
        "test",
        sink,
        on_rejected=lambda item, exc: (rejected if rejected is not None else []).append(item),
        retry_min_delay=0.01,
        retry_max_delay=0.05,
        **kw,  # type: ignore[arg-type]
    )
    batcher.start()
    return batcher


def test_batches_by_size() -> None:
    sink = Sink()
    batcher = make(sink, max_items=10, max_delay=60)
    batcher.submit(list(range(25)))
    deadline = time.monotonic() + 5
    while len(sink.taken) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.batches[:2] == [list(range(10)), list(range(10, 20))]
    assert batcher.close(timeout=5)
    assert sink.taken == list(range(25))


def test_batches_by_time() -> None:
    sink = Sink()
    batcher = make(sink, max_items=1000, max_delay=0.05)
    batcher.submit([1, 2, 3])
    time.sleep(0.5)
    assert sink.batches == [[1, 2, 3]]
    batcher.close()


def test_acknowledges_only_after_the_sink_took_the_items() -> None:
    sink = Sink()
    sink.down = True
    acknowledged = threading.Event()
    batcher = make(sink, max_items=10, max_delay=0.01)
    batcher.submit([1, 2], acknowledged.set)
    time.sleep(0.3)
    assert not acknowledged.is_set() and sink.calls >= 2
    sink.down = False
    assert acknowledged.wait(5)
    assert sink.taken == [1, 2]
    assert batcher.failures >= 2 and batcher.last_error is None
    batcher.close()


def test_rejected_items_are_isolated_and_the_rest_written() -> None:
    sink = Sink()
    sink.refuse = {13, 57}
    rejected: list[int] = []
    batcher = make(sink, rejected, max_items=100, max_delay=0.01)
    batcher.submit(list(range(100)))
    assert batcher.flush(5)
    assert sorted(rejected) == [13, 57]
    assert sorted(sink.taken) == [i for i in range(100) if i not in (13, 57)]
    assert batcher.rejected == 2
    batcher.close()


def test_acknowledgement_waits_for_the_last_batch_it_covers() -> None:
    sink = Sink()
    acknowledged: list[int] = []
    batcher = make(sink, max_items=10, max_delay=0.01)
    batcher.submit(list(range(35)), lambda: acknowledged.append(len(sink.taken)))
    assert batcher.flush(5)
    assert acknowledged == [35]
    batcher.close()


def test_backpressure_blocks_submit_while_the_sink_is_down() -> None:
    sink = Sink()
    sink.down = True
    batcher = make(sink, max_items=10, max_delay=0.01, capacity=20)
    batcher.submit(list(range(20)))
    blocked = threading.Thread(target=batcher.submit, args=([99],))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()
    sink.down = False
    blocked.join(5)
    assert not blocked.is_alive()
    assert batcher.close(5)
    assert sorted(sink.taken) == [*range(20), 99]


def test_close_with_the_sink_down_does_not_acknowledge() -> None:
    sink = Sink()
    sink.down = True
    acknowledged = threading.Event()
    batcher = make(sink, max_items=10, max_delay=0.01)
    batcher.submit([1], acknowledged.set)
    assert not batcher.close(timeout=0.3)
    assert not acknowledged.is_set()


@pytest.mark.parametrize("items", [[], [7]])
def test_acknowledgement_without_items_still_runs(items: list[int]) -> None:
    sink = Sink()
    acknowledged = threading.Event()
    batcher = make(sink, max_items=10, max_delay=0.01)
    batcher.submit(items, acknowledged.set)
    assert acknowledged.wait(5)
    batcher.close()


def test_waiting_acknowledgements_are_written_once_the_source_goes_quiet() -> None:
    """A broker with a full in-flight window sends nothing until it is acknowledged: a batch
    holding acknowledgements is written once submissions pause, not after `max_delay`."""
    sink = Sink()
    acknowledged = threading.Event()
    batcher = make(sink, max_items=1000, max_delay=30, quiet=0.02)
    batcher.submit([1, 2], acknowledged.set)
    assert acknowledged.wait(5), "the batch waited for max_delay (30 s)"
    assert sink.taken == [1, 2]
    batcher.close()


def test_items_without_acknowledgements_wait_for_their_batch() -> None:
    """QoS 0 (nothing to acknowledge): a pause is no reason for a small write."""
    sink = Sink()
    batcher = make(sink, max_items=1000, max_delay=30, quiet=0.02)
    batcher.submit([1, 2])
    time.sleep(0.3)
    assert sink.taken == []
    assert batcher.close(timeout=5)
    assert sink.taken == [1, 2]
