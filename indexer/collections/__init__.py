"""One module per synced Rocket.Chat collection: its spec beside the pure transform of its documents."""

from __future__ import annotations

from indexer.collections.livechat_contacts import LIVECHAT_CONTACTS
from indexer.collections.visitors import VISITORS

__all__ = ["LIVECHAT_CONTACTS", "VISITORS"]
