"""JSON Schemas of ``race.v1`` messages in their proto3 JSON form, for the OpenAPI document.

The REST gateway answers with the proto3 JSON of each ``race.v1.Query`` response; these
schemas, derived from the generated descriptors, let the OpenAPI document describe every
field without a second, hand-written copy of the types.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

# proto3 JSON: 64-bit integers are strings, 32-bit ones numbers.
_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
}


# proto3 JSON writes an ``Any`` as the packed message's own fields plus its type URL.
_ANY_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Any",
    "description": "a packed message: its proto3 JSON fields and its type URL as \"@type\"",
    "properties": {"@type": {"type": "string", "example": "/race.v1.MsgUpdateParams"}},
    "required": ["@type"], "additionalProperties": True,
}


def schema_ref(descriptor: Descriptor) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{descriptor.full_name}"}


def _field_schema(field: FieldDescriptor, pending: list[Descriptor]) -> dict[str, Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        pending.append(field.message_type)
        item: dict[str, Any] = schema_ref(field.message_type)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        item = {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    else:
        item = dict(_SCALARS.get(field.type, {}))
    if field.is_repeated:
        return {"type": "array", "items": item}
    return item


def message_schemas(roots: list[Descriptor]) -> dict[str, dict[str, Any]]:
    """Component schemas for ``roots`` and every message they contain, by full name."""
    schemas: dict[str, dict[str, Any]] = {}
    pending = list(roots)
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in schemas:
            continue
        if descriptor.full_name == "google.protobuf.Any":
            schemas[descriptor.full_name] = _ANY_SCHEMA
            continue
        properties = {field.name: _field_schema(field, pending) for field in descriptor.fields}
        schemas[descriptor.full_name] = {"type": "object", "title": descriptor.name,
                                         "properties": properties}
    return dict(sorted(schemas.items()))
