"""The risk score of a crash group (docs/server.md, "Risk score").

    risk = severity + flags + frequency + spread + recency

| term      | points                                                                  | range    |
|-----------|-------------------------------------------------------------------------|----------|
| severity  | exploitable 1500, probably_exploitable 1000, probably_not_exploitable 500, unknown 0 | 0-1500 |
| flags     | 60 if a plugin classified a crash of the group, 40 if the analysis or a plugin highlighted a variable | 0-100 |
| frequency | 50 * log10(count), at most 150 (1,000 crashes)                          | 0-150    |
| spread    | 30 * log2(distinct hosts), at most 60; 20 * log2(distinct versions), at most 40 | 0-100 |
| recency   | 100 * 2^(-age / 7 days), age = now - last_seen                           | 0-100    |

Severity dominates by construction: the severity levels are 500 points apart and every other term
together adds at most 450, so a group is never outranked by one of a lower severity, whatever its
count, spread or age. Within a severity, flags, frequency, spread and recency order the groups.
The first four terms change only when a crash arrives: they are stored on the group
(groups.risk_base) and recency is added at query time, so listing by risk is one indexed scan of
the groups table plus an expression per row.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

from ..plugins import SEVERITIES

SEVERITY_POINTS: Dict[str, float] = {
    "exploitable": 1500.0,
    "probably_exploitable": 1000.0,
    "probably_not_exploitable": 500.0,
    "unknown": 0.0,
}
PLUGIN_FLAG_POINTS = 60.0
HIGHLIGHT_FLAG_POINTS = 40.0
FREQUENCY_POINTS_PER_DECADE = 50.0
FREQUENCY_MAX = 150.0
HOST_POINTS_PER_DOUBLING = 30.0
HOST_MAX = 60.0
VERSION_POINTS_PER_DOUBLING = 20.0
VERSION_MAX = 40.0
RECENCY_MAX = 100.0
RECENCY_HALF_LIFE = 7 * 86400.0  # seconds

# Crash flags (crashes.flags, groups.flags: the OR of its crashes').
FLAG_PLUGIN_CLASSIFICATION = 1
FLAG_HIGHLIGHTED = 2

# The invariant the docs promise; checked at import so a change of the constants cannot break it.
_OTHERS_MAX = (PLUGIN_FLAG_POINTS + HIGHLIGHT_FLAG_POINTS + FREQUENCY_MAX + HOST_MAX + VERSION_MAX
               + RECENCY_MAX)
assert all(SEVERITY_POINTS[a] - SEVERITY_POINTS[b] > _OTHERS_MAX
           for a, b in zip(SEVERITIES, SEVERITIES[1:])), "severity must dominate the other terms"


def severity_rank(severity: Optional[str]) -> int:
    """0 = exploitable ... 3 = unknown (None counts as unknown): lower is worse."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


def base_terms(severity: Optional[str], flags: int, count: int, hosts: int, versions: int
               ) -> Dict[str, float]:
    """The stored terms (all but recency), in points."""
    return {
        "severity": SEVERITY_POINTS.get(severity or "unknown", 0.0),
        "flags": ((PLUGIN_FLAG_POINTS if flags & FLAG_PLUGIN_CLASSIFICATION else 0.0)
                  + (HIGHLIGHT_FLAG_POINTS if flags & FLAG_HIGHLIGHTED else 0.0)),
        "frequency": min(FREQUENCY_MAX, FREQUENCY_POINTS_PER_DECADE * math.log10(max(1, count))),
        "spread": (min(HOST_MAX, HOST_POINTS_PER_DOUBLING * math.log2(max(1, hosts)))
                   + min(VERSION_MAX, VERSION_POINTS_PER_DOUBLING * math.log2(max(1, versions)))),
    }


def recency(last_seen: float, now: float) -> float:
    """Points for how recently the group was last seen (a crash from the future counts as now)."""
    age = max(0.0, now - last_seen)
    return RECENCY_MAX * math.pow(2.0, -age / RECENCY_HALF_LIFE)


def risk_base(severity: Optional[str], flags: int, count: int, hosts: int, versions: int) -> float:
    return round(sum(base_terms(severity, flags, count, hosts, versions).values()), 6)


def terms(severity: Optional[str], flags: int, count: int, hosts: int, versions: int,
          last_seen: float, now: float) -> Dict[str, float]:
    """Every term (for the UI's tooltip and `btengine store top --json`)."""
    t = base_terms(severity, flags, count, hosts, versions)
    t["recency"] = recency(last_seen, now)
    return {k: round(v, 2) for k, v in t.items()}


def risk(severity: Optional[str], flags: int, count: int, hosts: int, versions: int,
         last_seen: float, now: float) -> float:
    return risk_base(severity, flags, count, hosts, versions) + recency(last_seen, now)


# The recency term as SQL over groups.last_seen, for ORDER BY (both SQLite and PostgreSQL have
# exp()): 100 * 2^(-age/half-life) = 100 * exp(-ln2 * age / half-life). `?` is `now`.
RECENCY_SQL = (f"({RECENCY_MAX!r} * exp(-{math.log(2)!r} * "
               f"(CASE WHEN ? > g.last_seen THEN ? - g.last_seen ELSE 0 END) / {RECENCY_HALF_LIFE!r}))")
