"""Keeps an Elasticsearch index in sync with Rocket.Chat's `rocketchat_livechat_visitor` collection."""
