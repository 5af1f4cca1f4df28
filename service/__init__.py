"""The HTTP API: Rocket.Chat's `GET /api/v1/omnichannel/contact.search`, answered from Elasticsearch."""
