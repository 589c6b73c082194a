"""An SVG map drawn from coordinates on the city's outline: no tiles, no network, works offline.

``MapView`` projects ``[lat, long]`` to SVG points (an equirectangular projection scaled at the city's
latitude, north up); the templates draw the outline, the districts clipped to it, and one dot a report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from procedures.civic.town import Point, Town

#: Dot colours by the report's status (and a fixed one), colour-blind-safe (Okabe–Ito).
COLOURS = {"submitted": "#d55e00", "acknowledged": "#e69f00", "in_progress": "#0072b2", "closed": "#009e73"}


@dataclass(frozen=True)
class Dot:
    """One report on the map."""

    x: float
    y: float
    colour: str
    href: str
    title: str
    square: bool = False


@dataclass(frozen=True)
class MapView:
    """The projection of a town onto a ``width`` × ``height`` SVG (height follows the aspect)."""

    town: Town
    width: float = 640.0
    margin: float = 12.0

    @property
    def _bounds(self) -> tuple[float, float, float, float]:
        return self.town.bounds()

    @property
    def _scale(self) -> float:
        south, west, north, east = self._bounds
        x_span = (east - west) * math.cos(math.radians((south + north) / 2))
        return (self.width - 2 * self.margin) / x_span

    @property
    def height(self) -> float:
        south, _, north, _ = self._bounds
        return round((north - south) * self._scale + 2 * self.margin, 1)

    def xy(self, point: Point) -> tuple[float, float]:
        """The SVG point of ``[lat, long]``."""
        south, west, north, _ = self._bounds
        lat, long = point
        cos = math.cos(math.radians((south + north) / 2))
        return (round(self.margin + (long - west) * cos * self._scale, 1),
                round(self.margin + (north - lat) * self._scale, 1))

    def path(self, polygon: Sequence[Point]) -> str:
        """An SVG ``points`` attribute."""
        return " ".join(f"{x},{y}" for x, y in (self.xy(p) for p in polygon))

    def label_at(self, polygon: Sequence[Point]) -> tuple[float, float]:
        """Where a district's name goes: its polygon's centre, pulled inside the outline's box."""
        south, west, north, east = self._bounds
        lat = sum(p[0] for p in polygon) / len(polygon)
        long = sum(p[1] for p in polygon) / len(polygon)
        return self.xy((min(max(lat, south), north), min(max(long, west), east)))

    def districts(self, lang: str) -> Iterable[tuple[str, str, tuple[float, float]]]:
        """``(points, name, label point)`` of every district."""
        for district in self.town.districts:
            yield self.path(district.polygon), district.name[lang], self.label_at(district.polygon)
