"""When the demo's night happens: placed on the wall clock so that it ends about now.

The night is told on its own clock (dusk at 18:00, the hill freezing about 22:30)
but stamped with real times: the accelerated part starts `STORY_SPAN` before the
demo starts, so readings are always in the past when stored and the pages see a
night that has just happened, whatever the hour the demo is run at. Two hours of
afternoon before it are handed to the bridge at once, so the alert engine starts
with history (every route decided CLEAR, not "no reading yet").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

STORY_FROM = time(17, 0)  # the story clock when the accelerated part begins
DUSK = time(18, 0)  # when the road surfaces start to cool (`wherry.demo.physics`)
STORY_SPAN = timedelta(hours=8)  # 17:00 to 01:00: dusk, the hill's TREAT, its frost
HISTORY = timedelta(hours=2)  # 15:00 to 17:00, stored before the engine starts


@dataclass(frozen=True, slots=True)
class Timeline:
    """The demo's night on the wall clock.

    `history_from` to `story_from`: stored at once; `story_from` to `live_from`: at
    the demo's speed; after `live_from`, real time. `physics_shift` is how far the
    wall clock runs ahead of the story's clock (the sensors measure at t what the
    night's curves give for t − shift).
    """

    history_from: datetime
    story_from: datetime
    live_from: datetime
    physics_shift: timedelta

    @property
    def dusk(self) -> datetime:
        """Dusk on the wall clock."""
        return self.story_from + (
            timedelta(hours=DUSK.hour, minutes=DUSK.minute)
            - timedelta(hours=STORY_FROM.hour, minutes=STORY_FROM.minute)
        )

    def story_time(self, moment: datetime) -> datetime:
        """The hour of the night at a wall-clock moment (dusk is 18:00 on this clock)."""
        return moment - self.physics_shift


def place_night(now: datetime) -> Timeline:
    """The timeline of a night that reaches `now` (aware, local) at its end."""
    story_from = now - STORY_SPAN
    evening = story_from.replace(
        hour=STORY_FROM.hour, minute=STORY_FROM.minute, second=0, microsecond=0
    )
    if evening > story_from:
        evening -= timedelta(days=1)
    return Timeline(
        history_from=story_from - HISTORY,
        story_from=story_from,
        live_from=now,
        physics_shift=story_from - evening,
    )
