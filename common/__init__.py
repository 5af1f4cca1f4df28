"""Process plumbing shared by the service and the indexer (logging set-up)."""
