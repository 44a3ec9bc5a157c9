"""The OpenAPI document, made whole: every schema reference resolves, and every problem answer
an operation can give (400, 401, 403, 404, 409, 413, 415, 422, 429) is documented with its
`application/problem+json` body, so clients and fuzzers can hold the API to its word."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from hub.api.problems import PROBLEM_JSON
from schemas.problems import Problem

COMPONENTS = "#/components/schemas/"
_PROBLEM_REF = {"$ref": f"{COMPONENTS}Problem"}
_WRITES = {"post", "put", "patch", "delete"}
PROBLEMS = {
    400: "The body is not well-formed (JSON, YAML, CSV…) or nests too deep",
    401: "No credential, or one that is unknown, revoked or malformed",
    403: "The credential lacks the scope, or acts for another channel or source",
    404: "Nothing by that id (or nothing this credential may see)",
    409: "The change conflicts with the current state",
    413: "The body is larger than this operation accepts",
    415: "The body's Content-Type is not one this operation accepts",
    422: "The request is not valid: each field that must change, with the reason",
    429: "Too many requests; retry after the Retry-After header's seconds",
}


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Hoist inline `$defs` into components and document the problem answers."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if "schema" in media:
                    media["schema"] = _hoisted(media["schema"], schemas)
    problem = Problem.model_json_schema(ref_template=COMPONENTS + "{model}")
    for name, definition in problem.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    problem["properties"].pop("extra", None)  # its members are written beside the others
    schemas["Problem"] = problem
    schemas.pop("HTTPValidationError", None)  # validation errors are problems here too
    schemas.pop("ValidationError", None)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                _document_problems(method, operation)
    return document


def _hoisted(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """A model's own JSON Schema refers to `#/$defs/X`, which means nothing inside an OpenAPI
    document: move each definition to components (renamed when the name is taken by another
    shape) and point the references there."""
    definitions = schema.pop("$defs", {})
    names: dict[str, str] = {}
    for name, definition in definitions.items():
        target = name
        while target in schemas and schemas[target] != definition:
            target += "Body"
        names[name] = target
    for name, definition in definitions.items():
        schemas[names[name]] = _retargeted(definition, names)
    return dict(_retargeted(schema, names))


def _retargeted(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**value, "$ref": COMPONENTS + names[ref.removeprefix("#/$defs/")]}
        return {key: _retargeted(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_retargeted(item, names) for item in value]
    return value


def _document_problems(method: str, operation: dict[str, Any]) -> None:
    has_body = "requestBody" in operation
    has_path_parameters = any(p.get("in") == "path" for p in operation.get("parameters", []))
    codes = {401, 403, 422, 429}
    if has_body:
        codes |= {400, 413, 415}
    if has_path_parameters or method in _WRITES:
        codes |= {404}
    if method in _WRITES:
        codes |= {409}
    responses = operation.setdefault("responses", {})
    for code in sorted(codes):
        answer = responses.setdefault(str(code), {"description": PROBLEMS[code]})
        answer["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
