"""An event's ``properties`` and a CRM event's ``lead``, from the mParticle event and the
connection's custom mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tiktok_connector.events.catalog import CONTENT_FIELDS, EVENT_PROPERTIES
from tiktok_connector.events.settings import CustomMapping
from tiktok_connector.events.values import (
    MappingNotes,
    as_number,
    order_value,
    supported_currency,
)


def event_properties(
    name: str,
    data: Any,
    mapping: CustomMapping | None,
    *,
    content_type: str,
    notes: MappingNotes | None,
) -> dict[str, Any]:
    """``properties`` of TikTok event ``name`` from an mParticle event's ``data``: the products as
    ``contents``, ``value`` and ``currency`` (unsupported currencies left out, counted in
    ``notes``), and the custom mapping's attributes — only what that event carries (seed)."""
    allowed = EVENT_PROPERTIES.get(name, frozenset())
    props: dict[str, Any] = {}
    action = data.product_action
    contents: list[dict[str, Any]] = []
    if action is not None and not allowed.isdisjoint(CONTENT_FIELDS):
        contents = _product_contents(action.products, allowed)
    if action is not None and "value" in allowed:
        value = order_value(action.total_amount, action.products)
        if value is not None:
            props["value"] = value
    if data.currency_code and "currency" in allowed:
        props["currency"] = data.currency_code
    if mapping is not None and mapping.attribute_mappings:
        extra_item = _mapped_attributes(props, data.custom_attributes, mapping, allowed)
        if extra_item:
            contents.append(extra_item)
    if contents:
        props["contents"] = contents
        props["content_type"] = content_type
    supported_currency(props, notes)
    return props


def _product_contents(products: Any, allowed: frozenset[str]) -> list[dict[str, Any]]:
    """One ``contents`` item per product, with the fields the event carries."""
    contents = []
    for product in products:
        item: dict[str, Any] = {}
        if product.id is not None and "content_id" in allowed:
            item["content_id"] = product.id
        if product.name is not None and "content_name" in allowed:
            item["content_name"] = product.name
        if product.category is not None and "content_category" in allowed:
            item["content_category"] = product.category
        if product.price is not None and "price" in allowed:
            item["price"] = as_number(product.price)
        if product.quantity is not None and "quantity" in allowed:
            item["quantity"] = as_number(product.quantity)
        if item:
            contents.append(item)
    return contents


def _mapped_attributes(
    props: dict[str, Any],
    attributes: Mapping[str, Any],
    mapping: CustomMapping,
    allowed: frozenset[str],
) -> dict[str, Any]:
    """Put the custom mapping's attributes into ``props``; return the content fields among them
    (one more ``contents`` item)."""
    extra_item: dict[str, Any] = {}
    for attribute, prop in mapping.attribute_mappings.items():
        if attribute not in attributes or attributes[attribute] is None:
            continue
        raw = attributes[attribute]
        if prop != "description" and prop not in allowed:
            continue
        if prop in ("value", "price", "quantity"):
            number = as_number(raw)
            if number is None:
                continue
            if prop == "value":
                props["value"] = number
            else:
                extra_item[prop] = number
        elif prop in ("content_id", "content_name", "content_category"):
            extra_item[prop] = str(raw)
        elif prop == "query":
            props["search_string"] = str(raw)
        else:
            props[prop] = str(raw)
    return extra_item


def crm_lead(attributes: Mapping[str, Any], mapping: CustomMapping | None) -> dict[str, Any] | None:
    """The CRM ``lead`` from the event's ``lead_id`` / ``lead_event_source`` attributes (or mapped)."""
    sources = {"lead_id": "lead_id", "lead_event_source": "lead_event_source"}
    if mapping is not None:
        for attribute, prop in mapping.attribute_mappings.items():
            if prop in sources:
                sources[prop] = attribute
    lead_id = attributes.get(sources["lead_id"])
    if lead_id is None or not str(lead_id).strip():
        return None
    lead = {"lead_id": str(lead_id)}
    source = attributes.get(sources["lead_event_source"])
    if source:
        lead["lead_event_source"] = str(source)
    return lead
