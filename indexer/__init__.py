"""Keeps Elasticsearch in sync with Rocket.Chat's MongoDB, one index per synced collection (`indexer.collections`:
visitors, Rocket.Chat 7's contacts): backfill, change streams or polling, deletes, `verify`, `reindex`."""
