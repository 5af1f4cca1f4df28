"""Typed keys of the objects the application holds for its lifetime."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from common.backends import BackendStates
from service.auth import Authenticator
from service.custom_fields import CustomFieldRegistry
from service.lists.visitors import VisitorLists
from service.lookup.search import ContactSearch
from service.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ELASTICSEARCH = web.AppKey("elasticsearch", AsyncElasticsearch)
MONGO_DATABASE = web.AppKey("mongo_database", AsyncDatabase[dict[str, Any]])
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
CUSTOM_FIELDS = web.AppKey("custom_fields", CustomFieldRegistry)
CONTACT_SEARCH = web.AppKey("contact_search", ContactSearch)
BACKENDS = web.AppKey("backends", BackendStates)
VISITOR_LISTS = web.AppKey("visitor_lists", VisitorLists)
