"""`contact.search`: the single-visitor lookup by email, phone or custom field, with its own lean HTTP client."""
