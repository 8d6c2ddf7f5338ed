"""Checks what the SDK generators made of openapi/itsm.json (run by scripts/sdk-check):

- no invented model names: nothing ending in `Inner`, `OneOf<N>` or `Type<N>`, nothing named
  after a status code (`…200Response…`, `…Response200…`);
- every component schema became a model of its own name (openapi-generator makes no class of
  free-form maps and form bodies, openapi-python-client none of unions: those are dicts, form
  fields and `A | B` types);
- no dropped response: every documented 2xx JSON response of every operation is parsed into
  its schema's model by both Python clients;
- the document itself: every operation has a summary and a description, every parameter a
  description, every request and response body a named schema with an example;
- docs/partners.md quotes every `# [quickstart: …]` region of smoke_opc.py verbatim.

Usage: check_generated.py SPEC OPC_PACKAGE_DIR OG_PACKAGE_DIR SMOKE_OPC PARTNERS_MD
"""

import ast
import json
import re
import sys
from pathlib import Path

spec_path, opc_dir, og_dir, smoke_path, partners_path = map(Path, sys.argv[1:6])
spec = json.loads(spec_path.read_text())
schemas = spec["components"]["schemas"]
failures = []

INVENTED = re.compile(r"(Inner|OneOf\d*|Type\d+)$|\d{3}Response|Response\d{3}")


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def opc_models():
    tree = ast.parse((opc_dir / "models" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return {elt.value for elt in node.value.elts}
    return set()


def og_models():
    text = (og_dir / "models" / "__init__.py").read_text()
    return set(re.findall(r"^from \S+ import (\w+)$", text, re.M))


# Free-form objects (any members) and form bodies: openapi-generator types them as dicts and
# form fields and, by design, makes no class of them.
FORM_BODIES = {
    content["schema"]["$ref"].rsplit("/", 1)[-1]
    for item in spec["paths"].values()
    for op in item.values()
    if isinstance(op, dict)
    for media, content in op.get("requestBody", {}).get("content", {}).items()
    if media == "application/x-www-form-urlencoded" and "$ref" in content.get("schema", {})
}


def og_skips(name):
    s = schemas[name]
    free_form = (s.get("type") == "object" and s.get("additionalProperties") is True
                 and not s.get("properties"))
    return free_form or name in FORM_BODIES


models = {"openapi-python-client": opc_models(), "openapi-generator": og_models()}
for generator, names in models.items():
    for name in sorted(names):
        if INVENTED.search(name):
            failures.append(f"{generator}: invented model name {name}")
    for name in schemas:
        if generator == "openapi-generator" and og_skips(name):
            continue
        # openapi-python-client types a union as `SlaStarted | SlaPaused | …`, with no class.
        if generator == "openapi-python-client" and "oneOf" in schemas[name]:
            continue
        if name not in names:
            failures.append(f"{generator}: no model {name} for the component schema {name}")
for name in schemas:
    if INVENTED.search(name):
        failures.append(f"openapi-typescript: invented schema name {name}")

# Every 2xx JSON response is parsed into its model.
og_methods = {}
for source in (og_dir / "api").glob("*_api.py"):
    for chunk in source.read_text().split("\n    def ")[1:]:
        name = chunk.split("(", 1)[0]
        types = re.search(r"_response_types_map: Dict\[str, Optional\[str\]\] = \{(.*?)\}",
                          chunk, re.S)
        og_methods[name] = types.group(1) if types else ""
for path, item in spec["paths"].items():
    for method, op in item.items():
        if not isinstance(op, dict) or "operationId" not in op:
            continue
        module = snake(op["operationId"])
        opc_files = list((opc_dir / "api").glob(f"*/{module}.py"))
        if not opc_files:
            failures.append(f"openapi-python-client: no module for {op['operationId']}")
            continue
        opc_source = opc_files[0].read_text()
        og_map = og_methods.get(module, "")
        for status, response in op.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            ref = (response.get("content", {}).get("application/json", {})
                   .get("schema", {}).get("$ref"))
            if ref is None:
                continue
            model = ref.rsplit("/", 1)[-1]
            parsed = re.search(
                rf"status_code == {status}:\n(?:.*\n){{0,3}}?.*{model}\.from_dict", opc_source)
            if not parsed:
                failures.append(
                    f"openapi-python-client: {op['operationId']} does not parse {status} as {model}")
            if f"'{status}': \"{model}\"" not in og_map:
                failures.append(
                    f"openapi-generator: {op['operationId']} does not parse {status} as {model}")

# What partners read first: every operation says what it does, every parameter what it is,
# and every body comes with an example.
for path, item in spec["paths"].items():
    for method, op in item.items():
        if not isinstance(op, dict) or "operationId" not in op:
            continue
        name = op["operationId"]
        for field in ("summary", "description"):
            if not op.get(field, "").strip():
                failures.append(f"document: {name} has no {field}")
        for param in op.get("parameters", []):
            if not param.get("description", "").strip():
                failures.append(f"document: parameter {param['name']} of {name} has no description")
        bodies = [("request", op.get("requestBody", {}))] + [
            (status, response) for status, response in op.get("responses", {}).items()]
        for where, body in bodies:
            for media, content in body.get("content", {}).items():
                schema = content.get("schema", {})
                # A bare list of a named schema (the SLA calendars and definitions, which
                # predate pages) names no new type either.
                if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
                    schema = schema["items"]
                ref = schema.get("$ref")
                # A file (CSV or JSON sent or streamed as is) is bytes, not a type to name.
                if schema.get("type") == "string" and schema.get("format") == "binary":
                    continue
                if ref is None:
                    failures.append(f"document: {name} {where} {media} is an inline schema")
                    continue
                target = schemas[ref.rsplit("/", 1)[-1]]
                if "example" not in target and "examples" not in target \
                        and "example" not in content and "examples" not in content:
                    failures.append(f"document: {name} {where}: {ref.rsplit('/', 1)[-1]} has no example")

# The quickstart quotes the smoke script.
smoke = smoke_path.read_text()
partners = partners_path.read_text() if partners_path.exists() else ""
regions = re.findall(r"^# \[quickstart: ([\w-]+)\]\n(.*?)^# \[/quickstart\]\n", smoke, re.S | re.M)
if not regions:
    failures.append(f"{smoke_path}: no quickstart regions")
for name, body in regions:
    if body not in partners:
        failures.append(f"{partners_path} does not quote the `{name}` step of {smoke_path} verbatim")

for f in failures:
    print(f"  FAIL {f}")
counts = ", ".join(f"{g}: {len(n)} models" for g, n in models.items())
print(f"  {counts}; {len(schemas)} component schemas; {len(regions)} quickstart steps")
sys.exit(1 if failures else 0)
