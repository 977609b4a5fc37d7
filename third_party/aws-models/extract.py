#!/usr/bin/env python3
"""Trims the botocore service models of sso-admin and identitystore to what Tessera serves.

Usage: extract.py <botocore data dir>   (e.g. .../site-packages/botocore/data)
Writes sso-admin.json and identitystore.json next to this script: the operations Tessera
implements, every shape reachable from their inputs, outputs and errors, without documentation.

Each string shape with a `pattern` also gets `x-tessera-regex`: the same pattern rewritten for
std::regex (ECMAScript, matched against the whole value) on a value in which every non-ASCII code
point has been replaced by the byte 0x01. Unicode classes (\\p{L}, \\p{N}, ...) become their ASCII
members plus 0x01, so any non-ASCII character counts as a member of every Unicode class: the
validator is exact on ASCII and lenient beyond it (docs/design/admin-plane.md).
"""
import gzip
import json
import os
import re
import sys

OPERATIONS = {
    "sso-admin": ("2020-07-20", [
        "DescribeInstance", "ListInstances",
        "CreateApplication", "DescribeApplication", "ListApplications", "UpdateApplication",
        "DeleteApplication",
        "PutApplicationGrant", "GetApplicationGrant", "ListApplicationGrants",
        "DeleteApplicationGrant",
        "PutApplicationAuthenticationMethod", "GetApplicationAuthenticationMethod",
        "ListApplicationAuthenticationMethods", "DeleteApplicationAuthenticationMethod",
        "PutApplicationAccessScope", "GetApplicationAccessScope", "ListApplicationAccessScopes",
        "DeleteApplicationAccessScope",
        "PutApplicationAssignmentConfiguration", "GetApplicationAssignmentConfiguration",
        "CreateApplicationAssignment", "DeleteApplicationAssignment",
        "ListApplicationAssignments", "DescribeApplicationAssignment",
        "CreateTrustedTokenIssuer", "DescribeTrustedTokenIssuer", "UpdateTrustedTokenIssuer",
        "ListTrustedTokenIssuers", "DeleteTrustedTokenIssuer",
        "TagResource", "UntagResource", "ListTagsForResource",
        "CreatePermissionSet", "DescribePermissionSet", "ListPermissionSets",
        "UpdatePermissionSet", "DeletePermissionSet",
        "PutInlinePolicyToPermissionSet", "GetInlinePolicyForPermissionSet",
        "DeleteInlinePolicyFromPermissionSet",
        "AttachManagedPolicyToPermissionSet", "DetachManagedPolicyFromPermissionSet",
        "ListManagedPoliciesInPermissionSet",
        "PutPermissionsBoundaryToPermissionSet", "GetPermissionsBoundaryForPermissionSet",
        "DeletePermissionsBoundaryFromPermissionSet",
        "ProvisionPermissionSet", "DescribePermissionSetProvisioningStatus",
        "ListPermissionSetProvisioningStatus",
        "CreateAccountAssignment", "DeleteAccountAssignment",
        "DescribeAccountAssignmentCreationStatus", "DescribeAccountAssignmentDeletionStatus",
        "ListAccountAssignmentCreationStatus", "ListAccountAssignmentDeletionStatus",
        "ListAccountAssignments", "ListAccountAssignmentsForPrincipal",
        "ListAccountsForProvisionedPermissionSet", "ListPermissionSetsProvisionedToAccount",
    ]),
    "identitystore": ("2020-06-15", [
        "CreateUser", "DescribeUser", "UpdateUser", "DeleteUser", "ListUsers", "GetUserId",
        "CreateGroup", "DescribeGroup", "ListGroups", "DeleteGroup", "GetGroupId",
        "CreateGroupMembership", "DeleteGroupMembership", "ListGroupMemberships",
        "IsMemberInGroups", "UpdateGroup", "GetGroupMembershipId",
        "ListGroupMembershipsForMember", "DescribeGroupMembership",
    ]),
}

MARK = r"\x01"
# ASCII members of the Unicode general categories used by the models.
CLASSES = {
    "L": "a-zA-Z",
    "M": "",
    "N": "0-9",
    "P": r"""!"#%&'()*,\-./:;?@\[\\\]_{}""",
    "S": r"$+<=>^`|~",
    "Z": " ",
}
SPECIAL_OUTSIDE = set("^$\\.*+?()[]{}|")
KEEP_ESCAPES = set("dDwWsSbBtnrfv0123456789")


def ascii_char(code):
    return "\\x%02x" % code if code < 0x20 or code == 0x7f else None


def translate(pattern):
    out = []
    i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if n == "p" and pattern[i + 2] == "{":
                end = pattern.index("}", i)
                members = CLASSES[pattern[i + 3:end]] + MARK
                out.append(members if in_class else "[" + members + "]")
                i = end + 1
                continue
            if n == "u":
                code = int(pattern[i + 2:i + 6], 16)
                i += 6
                # A range whose upper end is beyond ASCII: cap at 0x7e and add the marker.
                if code >= 0x80:
                    if out and out[-1] == "-":
                        out.append("\\x7e" + MARK)
                    else:
                        out.append(MARK)
                else:
                    out.append("\\x%02x" % code)
                continue
            if n in KEEP_ESCAPES or (in_class and n in "-]\\[^") or (
                    not in_class and n in SPECIAL_OUTSIDE):
                out.append(c + n)
            else:
                out.append(n)  # an identity escape of a plain character
            i += 2
            continue
        if ord(c) >= 0x80:
            out.append(MARK)
        elif c == "[" and not in_class:
            in_class = True
            out.append(c)
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def strip(shape):
    return {k: v for k, v in shape.items() if k not in ("documentation", "deprecatedMessage")}


def reachable(model, names):
    shapes = model["shapes"]
    seen = {}
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        shape = strip(shapes[name])
        if shape.get("type") == "structure":
            shape["members"] = {k: strip(v) for k, v in shape.get("members", {}).items()}
        if "pattern" in shape:
            shape["x-tessera-regex"] = translate(shape["pattern"])
            re.compile(shape["x-tessera-regex"])  # must at least be a valid regex
        seen[name] = shape
        for member in shape.get("members", {}).values():
            stack.append(member["shape"])
        for key in ("member", "key", "value"):
            if key in shape:
                stack.append(shape[key]["shape"])
    return seen


def main():
    data = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    for service, (version, operations) in OPERATIONS.items():
        with gzip.open(os.path.join(data, service, version, "service-2.json.gz")) as f:
            model = json.load(f)
        ops = {}
        roots = []
        for name in operations:
            op = strip(model["operations"][name])
            ops[name] = op
            for key in ("input", "output"):
                if key in op:
                    roots.append(op[key]["shape"])
            roots += [e["shape"] for e in op.get("errors", [])]
        roots.append("ValidationException")
        out = {"metadata": model["metadata"], "operations": ops,
               "shapes": dict(sorted(reachable(model, roots).items()))}
        with open(os.path.join(here, service + ".json"), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True, ensure_ascii=True)
            f.write("\n")


if __name__ == "__main__":
    main()
