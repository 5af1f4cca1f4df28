"""What the indexer and the service must agree on about the contacts index: names, mapping, the gram rule."""
