"""The chart catalog: real Helm charts, real versions and repositories (data in charts.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_DATA = Path(__file__).with_name("charts.json")


@lru_cache(maxsize=1)
def catalog() -> list[dict[str, Any]]:
    """Every chart of the catalog, as stored (with all versions, newest first)."""
    return json.loads(_DATA.read_text(encoding="utf-8"))["charts"]


def api_view(chart: dict[str, Any]) -> dict[str, Any]:
    """A chart as `GET /org/stacks/charts` returns it: its newest version only."""
    latest = chart["versions"][0]
    return {
        "name": chart["name"],
        "description": chart["description"],
        "repository_name": chart["repository_name"],
        "repository_url": chart["repository_url"],
        "version": latest["version"],
        "app_version": latest["app_version"],
        "subscribed": chart["subscribed"],
    }


def detail_view(chart: dict[str, Any]) -> dict[str, Any]:
    """A chart with every version, as `charts info` shows it."""
    return {**api_view(chart), "versions": [dict(v) for v in chart["versions"]]}


def find(name: str, repository: str | None = None) -> list[dict[str, Any]]:
    """Charts named `name` (case-insensitive), optionally in one repository (name or URL)."""
    wanted = name.lower()
    repo = repository.rstrip("/").lower() if repository else None
    return [
        c
        for c in catalog()
        if c["name"].lower() == wanted
        and (repo is None or repo in {c["repository_name"].lower(), c["repository_url"].rstrip("/").lower()})
    ]


def search(query: str) -> list[dict[str, Any]]:
    """Charts whose name, repository or description contains the query (case-insensitive)."""
    q = query.lower().strip()
    hits = [
        c
        for c in catalog()
        if q in c["name"].lower() or q in c["repository_name"].lower() or q in c["description"].lower()
    ]
    # Name matches first, like the platform's search.
    return sorted(hits, key=lambda c: (q not in c["name"].lower(), c["name"]))


def has_version(chart: dict[str, Any], version: str) -> bool:
    """Whether the chart has exactly this version (no ranges: Ankra pins versions)."""
    return any(v["version"] == version for v in chart["versions"])
