"""The paged lists (Rocket.Chat 7's `contacts.search` and `contacts.get`, `livechat/visitors.search` and
`livechat/visitors.autocomplete`): parameters (`params`, with JavaScript's rules in `js` and `js_json`), MongoDB's
order and paging (`paging`, `pages`) shared by every list route, and each route family's query and answer."""
