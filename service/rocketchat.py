"""Rocket.Chat's collections the service reads for authentication and custom fields, and its custom-field name rule."""

from __future__ import annotations

import re
from typing import Final

USERS_COLLECTION: Final = "users"
PERMISSIONS_COLLECTION: Final = "rocketchat_permissions"
CUSTOM_FIELDS_COLLECTION: Final = "rocketchat_livechat_custom_field"

# Rocket.Chat's own rule for custom field names; only such keys are ever queried.
CUSTOM_FIELD_NAME: Final = re.compile(r"[0-9a-zA-Z_-]+")
