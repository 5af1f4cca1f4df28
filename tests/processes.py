"""The environment of a process of ours (`python -m indexer`, `python -m service`) started by a test or a benchmark:
the caller's environment with the settings it names, so what every such process gets is written once."""

from __future__ import annotations

import os


def process_environment(mongo_url: str, es_url: str | None, alias: str | None, **settings: object) -> dict[str, str]:
    """`os.environ` with `MONGO_URL`, `ES_URL` (None: the caller's), `ES_INDEX` (None: the default alias) and each
    keyword as a variable of that name (`BATCH_SIZE=200`); a keyword set to None is removed."""
    environment = {**os.environ, "MONGO_URL": mongo_url}
    if es_url is not None:
        environment["ES_URL"] = es_url
    if alias is not None:
        environment["ES_INDEX"] = alias
    for name, value in settings.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = str(value)
    return environment
