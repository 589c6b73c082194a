"""The city as the civic reports see it: its outline, its districts, and the grid that coarsens locations.

A town file (``procedures/civic/towns/kaga.json``, or ``MACHI_CIVIC_TOWN_FILE``) holds the city's name,
its bounding polygon (``outline``: ``[lat, long]`` points) and its districts (``code``, ``name`` ja/en,
``polygon``); the first district containing a point is its district. Everything is local data: the
status page draws its map from it, with no tile server.

Public views never show a report's point: ``Grid.cell`` rounds it to the centre of a cell of
``civic_grid_m`` metres (about 100 m by default), so a report does not point at one house.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from procedures.errors import InvalidRequest, Unavailable

SHIPPED_TOWN = Path(__file__).resolve().parent / "towns" / "kaga.json"
#: The district of a point inside the city but in no district polygon.
OTHER_DISTRICT = "other"
#: Metres per degree of latitude (and of longitude at the equator).
METRES_PER_DEGREE = 111_320.0

Point = tuple[float, float]


class TownFileError(Unavailable):
    """The town file is missing or malformed."""

    code = "town_invalid"

    def __init__(self, message: str) -> None:
        super().__init__(f"the town file is invalid: {message}")


class OutsideCity(InvalidRequest):
    """A location outside the city's outline."""

    code = "outside_city"

    def __init__(self) -> None:
        super().__init__("the location is outside the city", param="lat")


def inside(point: Point, polygon: Sequence[Point]) -> bool:
    """Whether ``point`` lies inside ``polygon`` (even-odd rule; points on an edge may go either way)."""
    lat, long = point
    result = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        lat_i, long_i = polygon[i]
        lat_j, long_j = polygon[j]
        if (long_i > long) != (long_j > long):
            crossing = lat_i + (long - long_i) * (lat_j - lat_i) / (long_j - long_i)
            if lat < crossing:
                result = not result
        j = i
    return result


@dataclass(frozen=True)
class District:
    """A district of the city (schematic polygon)."""

    code: str
    name: dict[str, str]
    polygon: tuple[Point, ...]


@dataclass(frozen=True)
class Town:
    """The city's outline and districts."""

    name: dict[str, str]
    note: dict[str, str]
    outline: tuple[Point, ...]
    districts: tuple[District, ...]

    def contains(self, point: Point) -> bool:
        """Whether ``point`` is inside the city's outline."""
        return inside(point, self.outline)

    def district_of(self, point: Point) -> str:
        """The code of the first district containing ``point`` (``other`` when none does)."""
        return next((d.code for d in self.districts if inside(point, d.polygon)), OTHER_DISTRICT)

    def district_name(self, code: str, lang: str) -> str:
        """A district's name in ``lang`` (``ja`` or ``en``)."""
        for district in self.districts:
            if district.code == code:
                return district.name.get(lang, district.code)
        return {"ja": "その他", "en": "Other"}.get(lang, code)

    def bounds(self) -> tuple[float, float, float, float]:
        """``(south, west, north, east)`` of the outline."""
        lats = [p[0] for p in self.outline]
        longs = [p[1] for p in self.outline]
        return min(lats), min(longs), max(lats), max(longs)

    def check(self, point: Point) -> None:
        """Raises ``OutsideCity`` unless ``point`` is inside the city."""
        if not self.contains(point):
            raise OutsideCity()


def _points(value: Any, where: str) -> tuple[Point, ...]:
    if not isinstance(value, list) or len(value) < 3:
        raise TownFileError(f"{where} needs at least three [lat, long] points")
    points = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(v, int | float) and math.isfinite(v) for v in item)):
            raise TownFileError(f"{where}: {item!r} is not a [lat, long] point")
        points.append((float(item[0]), float(item[1])))
    return tuple(points)


def _names(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k] for k in ("ja", "en")):
        raise TownFileError(f"{where} needs names in ja and en")
    return {"ja": value["ja"], "en": value["en"]}


def parse_town(data: Any) -> Town:
    """A checked town.

    Raises:
        TownFileError: a field is missing or malformed.
    """
    if not isinstance(data, dict):
        raise TownFileError("the file is not a JSON object")
    districts = []
    for index, item in enumerate(data.get("districts") or []):
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"]:
            raise TownFileError(f"districts[{index}] needs a code")
        districts.append(District(item["code"], _names(item.get("name"), f"districts[{index}].name"),
                                  _points(item.get("polygon"), f"districts[{index}].polygon")))
    return Town(name=_names(data.get("name"), "name"),
                note=_names(data["note"], "note") if "note" in data else {"ja": "", "en": ""},
                outline=_points(data.get("outline"), "outline"), districts=tuple(districts))


@lru_cache(maxsize=8)
def load_town(path: Path | None = None) -> Town:
    """The town of ``path`` (default: the shipped Kaga file), read once per process.

    Raises:
        TownFileError: unreadable or malformed.
    """
    path = path or SHIPPED_TOWN
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TownFileError(f"{path.name}: cannot read: {exc}") from None
    return parse_town(data)


@dataclass(frozen=True)
class Grid:
    """Square-ish cells of ``metres`` on a side; longitude steps are scaled at the city's latitude."""

    metres: float
    latitude: float

    @property
    def lat_step(self) -> float:
        return self.metres / METRES_PER_DEGREE

    @property
    def long_step(self) -> float:
        return self.metres / (METRES_PER_DEGREE * math.cos(math.radians(self.latitude)))

    def cell(self, point: Point) -> Point:
        """The centre of the cell containing ``point`` (6 decimals)."""
        lat, long = point
        return (round((math.floor(lat / self.lat_step) + 0.5) * self.lat_step, 6),
                round((math.floor(long / self.long_step) + 0.5) * self.long_step, 6))


def grid_for(town: Town, metres: float) -> Grid:
    """The grid of ``metres`` cells for ``town`` (scaled at the middle of its outline)."""
    south, _, north, _ = town.bounds()
    return Grid(metres, (south + north) / 2)
