"""Support hours: when people answer, from SUPPORTBOT_SUPPORT_HOURS ("mon-fri 09:00-17:00")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True)
class Hours:
    days: frozenset[int]
    start: time
    end: time
    zone: ZoneInfo

    def open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end


def parse_hours(spec: str, zone_name: str) -> Hours | None:
    """None means always open. Several ranges may be joined with commas."""
    if not spec.strip():
        return None
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"SUPPORTBOT_SUPPORT_TIMEZONE is not a time zone: {zone_name!r}"
        ) from None
    match = _SPEC.match(spec.lower())
    if match is None or match["first"] not in DAYS or (match["last"] or "mon") not in DAYS:
        raise ImproperlyConfigured(
            f"SUPPORTBOT_SUPPORT_HOURS must look like 'mon-fri 09:00-17:00', got {spec!r}"
        )
    first = DAYS.index(match["first"])
    last = DAYS.index(match["last"]) if match["last"] else first
    days = (
        frozenset(range(first, last + 1))
        if first <= last
        else frozenset([*range(first, 7), *range(0, last + 1)])
    )
    try:
        start = time.fromisoformat(match["start"].zfill(5))
        end = time.fromisoformat(match["end"].zfill(5))
    except ValueError:
        raise ImproperlyConfigured(f"SUPPORTBOT_SUPPORT_HOURS has a bad time: {spec!r}") from None
    return Hours(days=days, start=start, end=end, zone=zone)


def within_support_hours(moment: datetime) -> bool:
    hours = parse_hours(settings.SUPPORTBOT_SUPPORT_HOURS, settings.SUPPORTBOT_SUPPORT_TIMEZONE)
    return hours is None or hours.open_at(moment)
