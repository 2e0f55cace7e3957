"""A minimal JSON Schema (draft-07) validator for the chart's values.schema.json.

Debian has no python3-jsonschema in this project's dependencies, so this implements only the
keywords that schema uses, and refuses a schema that uses any other (so a keyword added to the
schema cannot be silently ignored): type, enum, properties, additionalProperties (boolean or
schema), required, items (one schema), minimum, maximum, minLength, pattern, anyOf, $ref (to
"#/definitions/NAME" only), and the annotations $schema, title, description, definitions.
"""

import re

ANNOTATIONS = {"$schema", "title", "description", "definitions"}
KEYWORDS = {
    "type", "enum", "properties", "additionalProperties", "required", "items", "minimum",
    "maximum", "minLength", "pattern", "anyOf", "$ref",
} | ANNOTATIONS


def _is_type(value, name):
    # JSON has no separate booleans-as-integers: Python's bool is an int, JSON's is not.
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "null":
        return value is None
    raise ValueError(f"unknown type {name!r} in the schema")


class Validator:
    def __init__(self, schema):
        self.root = schema
        self._check_keywords(schema, "#")

    def _check_keywords(self, schema, where):
        if isinstance(schema, bool):
            return
        unknown = set(schema) - KEYWORDS
        if unknown:
            raise ValueError(
                f"{where}: keywords this validator does not implement: {sorted(unknown)}")
        for name, sub in schema.get("definitions", {}).items():
            self._check_keywords(sub, f"{where}/definitions/{name}")
        for name, sub in schema.get("properties", {}).items():
            self._check_keywords(sub, f"{where}/properties/{name}")
        if isinstance(schema.get("additionalProperties"), dict):
            self._check_keywords(schema["additionalProperties"], f"{where}/additionalProperties")
        if "items" in schema:
            if not isinstance(schema["items"], dict):
                raise ValueError(f"{where}/items: only one schema for every item is implemented")
            self._check_keywords(schema["items"], f"{where}/items")
        for i, sub in enumerate(schema.get("anyOf", [])):
            self._check_keywords(sub, f"{where}/anyOf/{i}")

    def _resolve(self, ref):
        prefix = "#/definitions/"
        if not ref.startswith(prefix):
            raise ValueError(f"$ref {ref!r}: only {prefix}NAME is implemented")
        return self.root["definitions"][ref[len(prefix):]]

    def errors(self, value, schema=None, path="values"):
        """Every way `value` breaks `schema`, as "PATH: what is wrong" strings."""
        schema = self.root if schema is None else schema
        if schema is True:
            return []
        if schema is False:
            return [f"{path}: is not allowed"]
        if "$ref" in schema:
            return self.errors(value, self._resolve(schema["$ref"]), path)
        out = []
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, t) for t in types):
                return [f"{path}: {value!r} is not of type {' or '.join(types)}"]
        if "enum" in schema and value not in schema["enum"]:
            out.append(f"{path}: {value!r} is not one of {schema['enum']}")
        if "anyOf" in schema:
            if all(self.errors(value, sub, path) for sub in schema["anyOf"]):
                out.append(f"{path}: {value!r} matches none of the allowed forms")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                out.append(f"{path}: {value} is less than {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                out.append(f"{path}: {value} is more than {schema['maximum']}")
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                out.append(f"{path}: {value!r} is shorter than {schema['minLength']}")
            if "pattern" in schema and not re.search(schema["pattern"], value):
                out.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if isinstance(value, dict):
            for name in schema.get("required", []):
                if name not in value:
                    out.append(f"{path}: {name!r} is required")
            properties = schema.get("properties", {})
            for name, sub in value.items():
                if name in properties:
                    out += self.errors(sub, properties[name], f"{path}.{name}")
                elif "additionalProperties" in schema:
                    extra = schema["additionalProperties"]
                    if extra is False:
                        out.append(f"{path}: unknown key {name!r}")
                    else:
                        out += self.errors(sub, extra, f"{path}.{name}")
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                out += self.errors(item, schema["items"], f"{path}[{i}]")
        return out
