"""The broadcaster: publishers on other threads, asyncio listeners, bounded queues, replay."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from alerts.notify.broadcast import Broadcaster, Gap, StreamEvent


def names(items: list[StreamEvent | Gap | None]) -> list[object]:
    return [item.data.get("n") if isinstance(item, StreamEvent) else item for item in items]


def test_every_listener_gets_every_event_in_order_from_another_thread() -> None:
    broadcaster = Broadcaster()

    async def main() -> list[list[object]]:
        listeners = [broadcaster.listen() for _ in range(3)]
        publisher = threading.Thread(
            target=lambda: [broadcaster.publish("alert", {"n": n}) for n in range(200)]
        )
        publisher.start()
        seen: list[list[object]] = []
        for listener in listeners:
            got: list[object] = []
            while len(got) < 200:
                item = await listener.next(timeout=5)
                assert isinstance(item, StreamEvent), item
                got.append(item.data["n"])
            seen.append(got)
        publisher.join()
        return seen

    assert asyncio.run(main()) == [list(range(200))] * 3


def test_events_carry_unique_increasing_ids_and_their_json() -> None:
    broadcaster = Broadcaster()
    first = broadcaster.publish("route", {"route_id": "R12", "state": "CLEAR"})
    second = broadcaster.publish("alert", {"route_id": "R12"})
    epoch, _, seq = first.id.partition("-")
    assert second.id == f"{epoch}-{int(seq) + 1}"
    assert first.json == '{"route_id":"R12","state":"CLEAR"}'


def test_a_listener_that_does_not_read_never_blocks_the_publisher_and_is_told_what_it_lost() -> (
    None
):
    broadcaster = Broadcaster(queue_size=10)

    async def main() -> list[StreamEvent | Gap | None]:
        with broadcaster.listen() as listener:
            started = time.perf_counter()
            for n in range(10_000):
                broadcaster.publish("alert", {"n": n, "pad": "x" * 100})
            assert time.perf_counter() - started < 2.0
            return [await listener.next(timeout=0.05) for _ in range(12)]

    items = asyncio.run(main())
    assert items[0] == Gap(9_990, "this client read too slowly; the oldest events were dropped")
    assert [item.data["n"] for item in items[1:11] if isinstance(item, StreamEvent)] == list(
        range(9_990, 10_000)
    )
    assert items[11] is None  # nothing more: the wait timed out


def test_a_reconnecting_client_gets_what_it_missed() -> None:
    broadcaster = Broadcaster(history=5)
    events = [broadcaster.publish("alert", {"n": n}) for n in range(4)]

    async def main() -> list[StreamEvent | Gap | None]:
        with broadcaster.listen(last_event_id=events[1].id) as listener:
            broadcaster.publish("alert", {"n": 4})
            return [await listener.next(timeout=0.2) for _ in range(4)]

    items = asyncio.run(main())
    assert names(items) == [2, 3, 4, None]


def test_a_client_too_far_behind_or_from_before_a_restart_is_told_to_reload() -> None:
    broadcaster = Broadcaster(history=3)
    events = [broadcaster.publish("alert", {"n": n}) for n in range(10)]

    async def main(last_event_id: str) -> list[StreamEvent | Gap | None]:
        with broadcaster.listen(last_event_id=last_event_id) as listener:
            return [await listener.next(timeout=0.02) for _ in range(5)]

    behind = asyncio.run(main(events[2].id))
    assert behind[0] == Gap(4, "events since then are no longer kept")
    assert names(behind[1:]) == [7, 8, 9, None]

    restarted = asyncio.run(main("0-5"))
    assert isinstance(restarted[0], Gap) and restarted[0].missed is None
    assert restarted[1:] == [None] * 4

    up_to_date = asyncio.run(main(events[-1].id))
    assert up_to_date == [None] * 5


def test_closing_ends_every_stream_after_what_was_queued() -> None:
    broadcaster = Broadcaster()

    async def main() -> tuple[list[StreamEvent | Gap | None], bool, int]:
        listener = broadcaster.listen()
        broadcaster.publish("alert", {"n": 1})
        threading.Timer(0.1, broadcaster.close).start()
        first = await listener.next(timeout=5)
        started = time.monotonic()
        end = await listener.next(timeout=5)
        assert time.monotonic() - started < 2, "close woke the waiting listener"
        return [first, end], listener.closed, broadcaster.listeners

    items, closed, remaining = asyncio.run(main())
    assert names(items) == [1, None]
    assert closed and remaining == 0


def test_a_listener_that_goes_away_is_forgotten() -> None:
    broadcaster = Broadcaster()

    async def main() -> None:
        with broadcaster.listen():
            assert broadcaster.listeners == 1
        assert broadcaster.listeners == 0

    asyncio.run(main())


def test_a_listener_whose_loop_ended_is_dropped_on_the_next_publish() -> None:
    broadcaster = Broadcaster()

    async def main() -> None:
        broadcaster.listen()  # never closed: its event loop simply ends

    asyncio.run(main())
    broadcaster.publish("alert", {"n": 1})
    broadcaster.publish("alert", {"n": 2})
    assert broadcaster.listeners == 0


@pytest.mark.parametrize(("queue_size", "history"), [(0, 1), (1, -1)])
def test_sizes_must_make_sense(queue_size: int, history: int) -> None:
    with pytest.raises(ValueError):
        Broadcaster(queue_size=queue_size, history=history)
