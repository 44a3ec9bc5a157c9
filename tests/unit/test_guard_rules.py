"""The front door finds a literal path's body rule in a map (`guard._literal_rules`): for every
documented operation, and paths near them, it must be the rule the walk over every operation's
pattern gives."""

import re

from hub.api import guard
from hub.api.app import create_app
from hub.settings import Settings


class _Hub:
    settings = Settings(_env_file=None, max_body_bytes=10_000, max_bulk_body_bytes=90_000)  # type: ignore[call-arg]


def _walk(rules: guard.BodyRules, method: str, path: str) -> guard.BodyRule:
    for pattern, rule_method, rule in rules:
        if rule_method == method and pattern.match(path):
            return rule
    return guard.BodyRule(_Hub.settings.max_body_bytes, ())


def test_each_operation_gets_the_rule_the_walk_gives() -> None:
    api = create_app(settings=_Hub.settings)
    hub = _Hub()
    rules = guard._rules(api, hub)  # type: ignore[arg-type]
    paths = list(api.openapi()["paths"])
    filled = [re.sub(r"\{[^/]+?\}", "x-1", p) for p in paths]
    near = [p + "/" for p in paths] + [p.upper() for p in paths] + ["/v1/orders\n", "/", ""]
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    literal = guard._literal_rules(api, hub)  # type: ignore[arg-type]
    assert ("POST", "/v1/orders") in literal and ("POST", "/v1/stock/bulk") in literal
    assert literal[("POST", "/v1/stock/bulk")].max_bytes == 90_000
    checked = 0
    for path in paths + filled + near:
        for method in methods:
            scope = {"path": path, "method": method}
            assert guard._rule(api, hub, scope) == _walk(rules, method, path), (method, path)  # type: ignore[arg-type]
            checked += 1
    assert checked > 200
