"""What the indexer and the service must agree on about each index (visitors, Rocket.Chat 7's contacts): names,
mappings, versioned index names and the substring schemes. Pure; neither side imports the other."""
