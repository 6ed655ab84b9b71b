#!/usr/bin/env python3
"""Checks CloudEvents against onramp's AsyncAPI document.

Usage: check_events.py schemas/asyncapi.yaml < events.jsonl

Reads one CloudEvent (structured JSON) per line on stdin and validates each
against the CloudEvent envelope (components/schemas/CloudEvent) and against the
payload schema of the document's message for the event's `type` (the message
whose payload schema is `allOf` the envelope and `{properties: {type: {const:
<type>}}}`), resolving the document's internal `$ref`s. AsyncAPI 3.0 schemas are
JSON Schema Draft 7 with extras, so Draft 7 it is.

Prints one line per problem; exits 1 if any event is invalid or has a type no
message of the document describes, 0 otherwise, ending with "N events valid".
Needs `jsonschema` (with `referencing`) and `pyyaml`.
"""

import json
import re
import sys
from datetime import datetime
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT7

BASE = "urn:onramp:asyncapi"
ENVELOPE = "#/components/schemas/CloudEvent"

RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

formats = FormatChecker()


@formats.checks("date-time", raises=ValueError)
def is_date_time(value):
    """RFC 3339 (jsonschema checks it only with an optional package installed)."""
    if not isinstance(value, str):
        return True
    m = RFC3339.match(value)
    if not m:
        return False
    datetime.strptime(m.group(1), "%Y-%m-%d")
    hour, minute, second = int(m.group(2)), int(m.group(3)), int(m.group(4))
    return hour < 24 and minute < 60 and second <= 60


@formats.checks("uri", raises=ValueError)
def is_uri(value):
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def resolve(doc, ref):
    """The object at an internal `#/...` reference."""
    if not ref.startswith("#/"):
        raise ValueError(f"not an internal reference: {ref}")
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def type_const(doc, schema, seen=()):
    """The `type` constant a message's payload schema pins, if any."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            return None
        return type_const(doc, resolve(doc, ref), seen + (ref,))
    const = schema.get("properties", {}).get("type", {}).get("const")
    if isinstance(const, str):
        return const
    for part in schema.get("allOf", []):
        found = type_const(doc, part, seen)
        if found:
            return found
    return None


def messages_by_type(doc):
    """type -> {payload reference or inline schema (as JSON text): [message names]}."""
    found = {}
    for name, message in (doc.get("components", {}).get("messages") or {}).items():
        if "$ref" in message:
            message = resolve(doc, message["$ref"])
        payload = message.get("payload")
        if not isinstance(payload, dict):
            continue
        event_type = type_const(doc, payload)
        if event_type is None:
            continue
        key = payload["$ref"] if set(payload) == {"$ref"} else json.dumps(payload, sort_keys=True)
        found.setdefault(event_type, {}).setdefault(key, []).append(name)
    return found


def validator_for(registry, key):
    if key.startswith("#/"):
        schema = {"$ref": BASE + key}
    else:
        schema = json.loads(key)
    return Draft7Validator(schema, registry=registry, format_checker=formats)


def describe(error):
    """One line: where in the event, and what is wrong (the closest cause of an anyOf/oneOf)."""
    if error.context:
        error = best_match(error.context) or error
    where = "/".join(str(p) for p in error.absolute_path) or "(event)"
    message = error.message
    if len(message) > 300:
        message = message[:150] + " ... " + message[-120:]
    return f"{where}: {message}"


def main():
    if len(sys.argv) != 2:
        print("usage: check_events.py ASYNCAPI_YAML < events.jsonl", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    try:
        resolve(doc, ENVELOPE)
    except (KeyError, TypeError):
        print(f"{sys.argv[1]}: no envelope schema at {ENVELOPE}")
        return 1
    registry = Registry().with_resource(BASE, DRAFT7.create_resource(doc))
    envelope = validator_for(registry, ENVELOPE)
    by_type = messages_by_type(doc)
    validators = {
        t: [(names, validator_for(registry, key)) for key, names in schemas.items()]
        for t, schemas in by_type.items()
    }

    total = invalid = 0
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        total += 1
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"line {lineno}: not JSON: {e}")
            invalid += 1
            continue
        event_type = event.get("type") if isinstance(event, dict) else None
        if not isinstance(event_type, str):
            event_type = None  # the envelope says what is wrong with it
        label = f"line {lineno} ({event_type or 'no type'}"
        if isinstance(event, dict) and "id" in event:
            label += f", id {event['id']}"
        label += ")"
        problems = []
        for error in envelope.iter_errors(event):
            problems.append("envelope: " + describe(error))
        if event_type is None:
            pass
        elif event_type not in validators:
            problems.append(f"no message in the document for type {event_type!r}")
        else:
            for names, v in validators[event_type]:
                for error in v.iter_errors(event):
                    problems.append(f"message {names[0]}: " + describe(error))
        # The envelope is part of every message's schema: say each problem once.
        seen = set()
        unique = []
        for p in problems:
            text = p.split(": ", 1)[1] if p.startswith(("envelope: ", "message ")) else p
            if text in seen:
                continue
            seen.add(text)
            unique.append(p)
        if unique:
            invalid += 1
            for p in unique:
                print(f"{label}: {p}")

    if invalid:
        print(f"{invalid} of {total} events invalid")
        return 1
    print(f"{total} events valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
