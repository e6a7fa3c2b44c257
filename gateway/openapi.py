"""An OpenAPI 3 document generated from the same annotations and message descriptors the gateway serves."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.descriptors import ApiDescriptors, Route

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.TYPE_INT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "integer", "format": "int64", "minimum": 0},
}
_ERROR_STATUSES = {
    "400": "Invalid request", "401": "Missing, invalid or revoked API key", "403": "Not allowed for this key or plan",
    "404": "Not found", "413": "Request body over 1 MiB", "429": "Rate limit or quota exceeded",
    "500": "Internal error", "501": "Not implemented yet", "503": "A backend is unavailable",
}


def _schema_name(descriptor: Descriptor) -> str:
    return descriptor.full_name.replace(".", "_")


def _comments(api: ApiDescriptors) -> dict[tuple[str, tuple[int, ...]], str]:
    found = {}
    for file in api.files.file:
        for location in file.source_code_info.location:
            if location.leading_comments.strip():
                found[(file.name, tuple(location.path))] = " ".join(location.leading_comments.split())
    return found


class OpenApiBuilder:
    def __init__(self, api: ApiDescriptors) -> None:
        self.api = api
        self.schemas: dict[str, Any] = {}
        self.comments = _comments(api)

    def _description(self, descriptor: Descriptor, field_index: int | None = None) -> str:
        file = descriptor.file
        if descriptor.containing_type is not None:
            return ""
        index = list(file.message_types_by_name).index(descriptor.name)
        path = (4, index) if field_index is None else (4, index, 2, field_index)
        return self.comments.get((file.name, path), "")

    def field_schema(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self._single(value_field)}
        single = self._single(field)
        if field.is_repeated:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return self.message_ref(field.message_type)
        if field.type == FieldDescriptor.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS.get(field.type, {"type": "string"}))

    def message_ref(self, descriptor: Descriptor, response: bool = False) -> dict[str, Any]:
        if descriptor.full_name == "google.protobuf.Struct":
            return {"type": "object", "additionalProperties": True}
        if descriptor.full_name == "google.protobuf.Value":
            return {}
        name = _schema_name(descriptor) + ("_Response" if response else "")
        if name not in self.schemas:
            self.schemas[name] = {}  # reserve first: messages may refer to themselves
            properties = {}
            required = []
            for index, field in enumerate(descriptor.fields):
                schema = self.field_schema(field)
                description = self._description(descriptor, index)
                if description and "$ref" not in schema:
                    schema["description"] = description
                properties[field.name] = schema
                # Responses print every field without presence (always_print_primitive_fields).
                if response and not field.has_presence:
                    required.append(field.name)
            body: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                body["required"] = required
            description = self._description(descriptor)
            if description:
                body["description"] = description
            self.schemas[name] = body
        return {"$ref": f"#/components/schemas/{name}"}

    def _parameters(self, route: Route) -> list[dict[str, Any]]:
        descriptor = route.request_class.DESCRIPTOR
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.variables
        ]
        if route.body == "*":
            return parameters
        body_field = route.body
        for index, field in enumerate(descriptor.fields):
            if field.name in route.variables or field.name == body_field or field.type == FieldDescriptor.TYPE_MESSAGE:
                continue
            schema = self.field_schema(field)
            parameter = {"name": field.name, "in": "query", "required": False, "schema": schema}
            description = self._description(descriptor, index)
            if description:
                parameter["description"] = description
            parameters.append(parameter)
        return parameters

    def _operation(self, route: Route) -> dict[str, Any]:
        method = self.api.pool.FindMethodByName(f"{route.service}.{route.method}")
        operation: dict[str, Any] = {
            "operationId": f"{route.service.rsplit('.', 1)[-1]}_{route.method}",
            "tags": [route.service.rsplit(".", 1)[-1]],
            "parameters": self._parameters(route),
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": self.message_ref(method.output_type, response=True)}},
                },
                **{
                    status: {"description": text, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}
                    for status, text in _ERROR_STATUSES.items()
                },
            },
        }
        summary = self._method_comment(route)
        if summary:
            operation["summary"] = summary
        if route.body:
            body_type = (
                method.input_type if route.body == "*" else method.input_type.fields_by_name[route.body].message_type
            )
            schema = self.message_ref(body_type)
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}, "text/plain": {"schema": schema}},
            }
        return operation

    def _method_comment(self, route: Route) -> str:
        for file in self.api.files.file:
            for s_index, service in enumerate(file.service):
                if f"{file.package}.{service.name}" != route.service:
                    continue
                for m_index, method in enumerate(service.method):
                    if method.name == route.method:
                        return self.comments.get((file.name, (6, s_index, 2, m_index)), "")
        return ""

    def build(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for route in self.api.routes:
            paths.setdefault(route.template, {})[route.verb.lower()] = self._operation(route)
        self.schemas["Error"] = {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
        }
        return {
            "openapi": "3.0.3",
            "info": {
                "title": "Carthouse ecommerce analytics API",
                "version": "1.0.0",
                "description": "Generated from the google.api.http annotations of protos/carthouse/v1.",
            },
            "servers": [{"url": "/"}],
            "security": [{"ApiKeyHeader": []}, {"BearerKey": []}],
            "paths": paths,
            "components": {
                "schemas": self.schemas,
                "securitySchemes": {
                    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "BearerKey": {"type": "http", "scheme": "bearer"},
                },
            },
        }


def openapi_document(api: ApiDescriptors) -> dict[str, Any]:
    return OpenApiBuilder(api).build()
