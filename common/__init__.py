"""Process plumbing shared by the service and the indexer: the settings loader, logging, the metrics server."""
