"""Just enough InfluxQL reading to say which measurement, fields and tags a Grafana query
uses: SELECT … FROM "m" WHERE … GROUP BY …, SHOW TAG VALUES, SHOW FIELD KEYS."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

QUOTED = re.compile(r'"([^"]+)"')
SELECT = re.compile(
    r"^SELECT\s+(?P<select>.+?)\s+FROM\s+\"(?P<measurement>[^\"]+)\""
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+GROUP BY\s+(?P<group>.+?))?"
    r"(?:\s+fill\(\w+\))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
SHOW_TAG_VALUES = re.compile(
    r'^SHOW TAG VALUES FROM "(?P<measurement>[^"]+)" WITH KEY = "(?P<key>[^"]+)"'
    r"(?:\s+WHERE\s+(?P<where>.+))?$",
    re.IGNORECASE,
)
SHOW_FIELD_KEYS = re.compile(r'^SHOW FIELD KEYS FROM "(?P<measurement>[^"]+)"$', re.IGNORECASE)
ALIAS = re.compile(r'\s+AS\s+"[^"]*"', re.IGNORECASE)


@dataclass
class QueryUse:
    """What one query reads; names starting with `$` are Grafana variables."""

    measurement: str
    fields: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    """Tags the query filters or groups by."""
    columns: set[str] = field(default_factory=set)
    """Bare names in SELECT: a field or a tag of the measurement."""
    field_keys: bool = False
    """SHOW FIELD KEYS: the result is the measurement's field names."""


def parse(query: str) -> QueryUse:
    """What `query` reads; ValueError for a query of a shape these dashboards do not use."""
    text = " ".join(query.split())
    if match := SHOW_FIELD_KEYS.match(text):
        return QueryUse(match["measurement"], field_keys=True)
    if match := SHOW_TAG_VALUES.match(text):
        use = QueryUse(match["measurement"], tags={match["key"]})
        use.tags |= _where_tags(match["where"] or "")
        return use
    match = SELECT.match(text)
    if match is None:
        raise ValueError(f"not a query shape the dashboard check knows: {text!r}")
    use = QueryUse(match["measurement"])
    for part in _split_top_level(ALIAS.sub("", match["select"])):
        function = re.fullmatch(r'\w+\("([^"]+)"\)', part.strip())
        if function:
            use.fields.add(function.group(1))
            continue
        bare = re.fullmatch(r'"([^"]+)"', part.strip())
        if bare is None:
            raise ValueError(f"SELECT item not understood: {part!r} in {text!r}")
        use.columns.add(bare.group(1))
    use.tags |= _where_tags(match["where"] or "")
    for item in _split_top_level(match["group"] or ""):
        item = item.strip()
        if item.lower().startswith("time("):
            continue
        use.tags.update(QUOTED.findall(item))
    return use


def _where_tags(where: str) -> set[str]:
    """Quoted names compared in WHERE (`"route" =~ /…/`, `"domain" = 'road'`)."""
    return set(re.findall(r'"([^"]+)"\s*(?:=~|!~|=|!=|<>)', where))


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    tail = text[start:]
    if tail.strip():
        parts.append(tail)
    return parts
