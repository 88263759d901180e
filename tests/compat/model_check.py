"""Every answer the compatibility tests receive, checked against AWS's own model of the operation (botocore's
service-2.json): the raw XML (Query protocol: ElastiCache) or JSON (CloudWatch Logs) body, not what botocore makes of
it, since botocore drops what it does not know and never checks enums or required members.

A violation is a member the shape does not have, a required member missing, a value of the wrong type (integer,
boolean, double, timestamp), an enum value the model does not list, a scalar given twice, or an error whose body is
not AWS's ErrorResponse. `check` returns them as strings, each with the path into the answer."""

import datetime
import json
import xml.etree.ElementTree as ET

# Errors any operation may answer (AWS's common errors), beside the ones its model lists.
COMMON_ERRORS = {
    "AccessDenied", "AccessDeniedException", "IncompleteSignature", "InternalFailure", "InvalidAction",
    "InvalidClientTokenId", "InvalidParameterCombination", "InvalidParameterValue", "InvalidQueryParameter",
    "MalformedQueryString", "MissingAction", "MissingAuthenticationToken", "MissingParameter", "NotAuthorized",
    "OptInRequired", "RequestExpired", "RequestTimeout", "ServiceUnavailable", "SignatureDoesNotMatch",
    "Throttling", "ThrottlingException", "ValidationError", "RequestEntityTooLarge", "UnrecognizedClientException",
    "InvalidSignatureException", "SerializationException",
}


def local(tag):
    return tag.rsplit("}", 1)[-1]


def error_codes(operation):
    codes = set()
    for e in operation.error_shapes:
        codes.add(e.name)
        code = e.metadata.get("error", {}).get("code")
        if code:
            codes.add(code)
    return codes


def scalar_problem(shape, text):
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            int(text)
        elif t in ("double", "float"):
            float(text)
        elif t == "boolean":
            if text not in ("true", "false"):
                return f"boolean {text!r} is neither true nor false"
        elif t == "timestamp":
            datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"{t} {text!r} does not parse"
    if getattr(shape, "enum", None) and text not in shape.enum:
        return f"{text!r} is not one of the model's values {shape.enum}"
    return None


def check_xml(shape, el, path, out):
    t = shape.type_name
    if t == "structure":
        members = {m.serialization.get("name", name): (name, m) for name, m in shape.members.items()}
        # Where the model gives a member a wire name of its own (`locationName`), botocore reads that name and the
        # Smithy SDKs the member's: an answer may carry both (see wire's write_pending_log_deliveries).
        for name, m in shape.members.items():
            members.setdefault(name, (name, m))
        seen = {}
        for child in el:
            name = local(child.tag)
            if name not in members:
                out.append(f"{path}/{name}: not a member of {shape.name}")
                continue
            seen[name] = seen.get(name, 0) + 1
            mname, mshape = members[name]
            if mshape.type_name == "list" and mshape.serialization.get("flattened"):
                check_xml(mshape.member, child, f"{path}/{name}", out)
                continue
            if seen[name] > 1:
                out.append(f"{path}/{name}: given more than once")
            check_xml(mshape, child, f"{path}/{name}", out)
        for req in shape.required_members:
            wire = shape.members[req].serialization.get("name", req)
            if wire not in seen:
                out.append(f"{path}: required member {wire} missing")
    elif t == "list":
        item = shape.member.serialization.get("name", "member")
        for i, child in enumerate(el):
            if local(child.tag) != item:
                out.append(f"{path}/{local(child.tag)}: a list of {shape.name} holds <{item}> elements")
                continue
            check_xml(shape.member, child, f"{path}/{item}[{i}]", out)
    elif t == "map":
        for entry in el:
            for part, s in (("key", shape.key), ("value", shape.value)):
                name = s.serialization.get("name", part)
                found = [c for c in entry if local(c.tag) == name]
                if len(found) != 1:
                    out.append(f"{path}/entry: needs one <{name}>")
                else:
                    check_xml(s, found[0], f"{path}/entry/{name}", out)
    else:
        if len(el):
            out.append(f"{path}: a {t} holds elements")
        problem = scalar_problem(shape, el.text or "")
        if problem:
            out.append(f"{path}: {problem}")


def check_json(shape, value, path, out):
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            out.append(f"{path}: not an object")
            return
        for k, v in value.items():
            if k not in shape.members:
                out.append(f"{path}.{k}: not a member of {shape.name}")
            else:
                check_json(shape.members[k], v, f"{path}.{k}", out)
        for req in shape.required_members:
            if req not in value:
                out.append(f"{path}: required member {req} missing")
    elif t == "list":
        if not isinstance(value, list):
            out.append(f"{path}: not a list")
            return
        for i, v in enumerate(value):
            check_json(shape.member, v, f"{path}[{i}]", out)
    elif t == "map":
        if not isinstance(value, dict):
            out.append(f"{path}: not an object")
            return
        for k, v in value.items():
            check_json(shape.value, v, f"{path}.{k}", out)
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{path}: {value!r} is not an integer")
    elif t in ("double", "float", "timestamp"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            out.append(f"{path}: {value!r} is not a number")
    elif t == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: {value!r} is not a boolean")
    elif t == "string":
        if not isinstance(value, str):
            out.append(f"{path}: {value!r} is not a string")
        elif getattr(shape, "enum", None) and value not in shape.enum:
            out.append(f"{path}: {value!r} is not one of the model's values {shape.enum}")


def check(operation, status, body):
    """Violations of `operation`'s model (a botocore OperationModel) in an answer of HTTP `status` and `body`."""
    out = []
    protocol = operation.metadata["protocol"]
    where = operation.name
    if protocol == "query":
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            return [f"{where}: the body is not XML ({e})"]
        if status >= 300:
            err = root.find("{*}Error") if local(root.tag) == "ErrorResponse" else None
            if err is None:
                return [f"{where}: an error answer without <ErrorResponse><Error>"]
            code = err.findtext("{*}Code")
            if not code or err.findtext("{*}Message") is None:
                out.append(f"{where}: an error without Code or Message")
            elif code not in error_codes(operation) | COMMON_ERRORS:
                out.append(f"{where}: error {code} is not one the model gives this operation")
            return out
        if local(root.tag) != f"{operation.name}Response":
            return [f"{where}: the root element is <{local(root.tag)}>"]
        shape = operation.output_shape
        wrapper = operation.output_shape.serialization.get("resultWrapper") if shape else None
        for child in root:
            name = local(child.tag)
            if name == "ResponseMetadata":
                if not child.findtext("{*}RequestId"):
                    out.append(f"{where}/ResponseMetadata: no RequestId")
            elif shape is not None and name == wrapper:
                check_xml(shape, child, f"{where}/{name}", out)
            else:
                out.append(f"{where}/{name}: unexpected element")
        if shape is not None and root.find(f"{{*}}{wrapper}") is None:
            out.append(f"{where}: no <{wrapper}>")
    elif protocol == "json":
        try:
            value = json.loads(body) if body.strip() else {}
        except ValueError as e:
            return [f"{where}: the body is not JSON ({e})"]
        if status >= 300:
            code = (value.get("__type") or "").rsplit("#", 1)[-1]
            if not code:
                out.append(f"{where}: an error without __type")
            elif code not in error_codes(operation) | COMMON_ERRORS:
                out.append(f"{where}: error {code} is not one the model gives this operation")
            return out
        if operation.output_shape is not None:
            check_json(operation.output_shape, value, where, out)
    return out
