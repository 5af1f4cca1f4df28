"""The HTTP API: Rocket.Chat's omnichannel contact routes (`contact.search`, `contacts.search`, `contacts.get`)
answered from Elasticsearch, with Rocket.Chat's authentication, permissions, validation and envelopes."""
