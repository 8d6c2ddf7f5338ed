"""Contract-test checks beyond the document (loaded with SCHEMATHESIS_HOOKS).

`no_foreign_rows`: a customer's principal (CONTRACT_TENANT set) never receives a row of another
tenant (but what an ancestor shares, marked `inherited`), and a requester (CONTRACT_CALLER
set) never an incident raised for someone else —
whatever the generated request asked for. A leak between tenants is the worst bug this product
can have; the status-code checks alone would pass it as a conforming 200.
"""
import os

import schemathesis

TENANT = os.environ.get("CONTRACT_TENANT")
CALLER = os.environ.get("CONTRACT_CALLER")


def objects(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from objects(v)


@schemathesis.check
def no_foreign_rows(ctx, response, case):
    if not TENANT or response.status_code >= 300:
        return None
    try:
        body = response.json()
    except Exception:
        return None
    for obj in objects(body):
        tenant = obj.get("tenant_id")
        # SLA calendars and definitions an ancestor (the MSP) shares are marked `inherited`.
        if tenant is not None and tenant != TENANT and obj.get("inherited") is not True:
            raise AssertionError(f"a row of tenant {tenant} reached a principal of {TENANT}")
        number = obj.get("number")
        if (
            CALLER
            and isinstance(number, str)
            and number.startswith("INC")
            and obj.get("caller_id") != CALLER
        ):
            raise AssertionError(f"{number}, raised for {obj.get('caller_id')}, reached requester {CALLER}")
    return None
