"""The paged lists (Rocket.Chat 7's `contacts.search` and `contacts.get`): parameters, query, sort and answer shaping
shared by every list route."""
