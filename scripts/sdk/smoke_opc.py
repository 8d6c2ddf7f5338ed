"""A partner's first hour with the client `openapi-python-client` generates from
openapi/itsm.json (package `itsm_opc`), against `itsm serve --demo`.

Run by scripts/sdk-check: `python smoke_opc.py BASE_URL DEMO_PASSWORD` with the generated
package on PYTHONPATH. Every step asserts on typed fields. The `# [quickstart: …]` regions are
quoted verbatim by docs/partners.md; scripts/sdk-check fails when the two differ.
"""

import sys
import time
import uuid

from itsm_opc import AuthenticatedClient, Client
from itsm_opc.api.api_clients import create_api_client
from itsm_opc.api.auth import issue_token, login
from itsm_opc.api.incidents import (
    comment_incident,
    create_incident,
    get_incident,
    get_incident_sla,
    list_incident_comments,
    list_incidents,
    transition_incident,
    update_incident,
)
from itsm_opc.api.problems import create_problem, get_problem, link_problem_incident, list_problems
from itsm_opc.models import (
    ApiClientIn,
    ApiClientSecretOut,
    CommentIn,
    CommentOut,
    CommentPage,
    IncidentIn,
    IncidentOut,
    IncidentPage,
    IncidentPatch,
    IncidentSlaOut,
    LoginIn,
    Problem,
    ProblemIn,
    ProblemOut,
    ProblemPage,
    SlaStarted,
    SlaStopped,
    State,
    TokenForm,
    TokenOut,
    Transition,
    Visibility,
)

BASE, PASSWORD = sys.argv[1], sys.argv[2]


def step(name):
    print(f"  opc: {name}", flush=True)


# [quickstart: retries]
def call(endpoint, attempts=5, **kwargs):
    """Calls `endpoint.sync_detailed`, waiting out 429 and 503 as `Retry-After` says."""
    for _ in range(attempts - 1):
        response = endpoint.sync_detailed(**kwargs)
        if response.status_code not in (429, 503):
            return response
        time.sleep(int(response.headers.get("Retry-After", "1")))
    return endpoint.sync_detailed(**kwargs)
# [/quickstart]


def expect(response, status, model):
    assert response.status_code == status, (response.status_code, response.content)
    assert isinstance(response.parsed, model), type(response.parsed)
    return response.parsed


step("password login")
# [quickstart: login]
anonymous = Client(base_url=BASE)
signed_in = call(login, client=anonymous,
                 body=LoginIn(email="admin@globex.demo.test", password=PASSWORD))
assert signed_in.status_code == 200
admin = AuthenticatedClient(base_url=BASE, token=signed_in.parsed.access_token)
# [/quickstart]
assert isinstance(signed_in.parsed, TokenOut) and signed_in.parsed.token_type == "Bearer"

step("register an API client")
# [quickstart: register]
registered = call(create_api_client, client=admin, idempotency_key=str(uuid.uuid4()),
                  body=ApiClientIn(name="Acme monitoring",
                                   scopes=["incident:read", "incident:write",
                                           "problem:read", "problem:write"]))
assert registered.status_code == 201
client_id = str(registered.parsed.client.id)
client_secret = registered.parsed.client_secret  # shown once: keep it in a secret store
# [/quickstart]
assert isinstance(registered.parsed, ApiClientSecretOut)
assert registered.parsed.client.scopes == ["incident:read", "incident:write",
                                           "problem:read", "problem:write"]

step("client-credentials token")
# [quickstart: token]
issued = call(issue_token, client=anonymous,
              body=TokenForm(grant_type="client_credentials",
                             client_id=client_id, client_secret=client_secret))
assert issued.status_code == 200
api = AuthenticatedClient(base_url=BASE, token=issued.parsed.access_token)
# [/quickstart]
assert isinstance(issued.parsed, TokenOut) and issued.parsed.expires_in > 0
assert "incident:write" in issued.parsed.scope.split()

step("create, with an idempotent retry")
# [quickstart: create]
key = str(uuid.uuid4())  # one key per intended incident, reused by every retry of it
body = IncidentIn(title="Checkout API answers 502", impact=2, urgency=2,
                  description="Since 09:10 UTC, about 30 % of requests fail.")
created = call(create_incident, client=api, body=body, idempotency_key=key)
assert created.status_code == 201
incident = created.parsed
print(incident.number, incident.priority, incident.state)  # INC0001026 3 State.NEW
retried = call(create_incident, client=api, body=body, idempotency_key=key)
assert retried.parsed.id == incident.id  # the first answer again, no second incident
assert retried.headers.get("Idempotent-Replayed") == "true"
# [/quickstart]
incident = expect(created, 201, IncidentOut)
assert incident.state == State.NEW and incident.priority == 3 and incident.version == 1
assert incident.number.startswith("INC")
for title in ("Printer queue stuck", "VPN drops every hour"):
    expect(call(create_incident, client=api, idempotency_key=str(uuid.uuid4()),
                body=IncidentIn(title=title, impact=3, urgency=3)), 201, IncidentOut)

step("get")
# [quickstart: get]
read = call(get_incident, client=api, id=incident.id)
etag = read.headers["ETag"]  # '"1"': the version, for If-Match
# [/quickstart]
assert expect(read, 200, IncidentOut).id == incident.id and etag == '"1"'

step("list, two pages")
# [quickstart: page]
seen, cursor = [], None
while True:
    page = call(list_incidents, client=api, limit=2,
                **({"cursor": cursor} if cursor else {})).parsed
    seen.extend(page.items)  # each item is an IncidentOut, as from get_incident
    cursor = page.next_cursor
    if cursor is None or len(seen) >= 4:
        break
# [/quickstart]
assert isinstance(page, IncidentPage)
assert len(seen) >= 4 and all(isinstance(i, IncidentOut) for i in seen)
assert len({i.id for i in seen}) == len(seen), "pages overlap"

step("update with its version check")
# [quickstart: update]
updated = call(update_incident, client=api, id=incident.id, if_match=etag,
               body=IncidentPatch(urgency=1))
assert updated.status_code == 200  # priority 2: impact 2 × urgency 1
etag = updated.headers["ETag"]
stale = call(update_incident, client=api, id=incident.id, if_match='"1"',
             body=IncidentPatch(title="A lost update"))
assert stale.status_code == 412 and stale.parsed.code == "precondition_failed"
# [/quickstart]
updated = expect(updated, 200, IncidentOut)
assert updated.priority == 2 and updated.version == 2 and etag == '"2"'
assert isinstance(stale.parsed, Problem)

step("transition")
# [quickstart: transition]
moved = call(transition_incident, client=api, id=incident.id, if_match=etag,
             idempotency_key=str(uuid.uuid4()), body=Transition(to=State.IN_PROGRESS))
assert moved.status_code == 200 and moved.parsed.state == State.IN_PROGRESS
# [/quickstart]
assert State.RESOLVED.value in expect(moved, 200, IncidentOut).allowed_transitions

step("internal and public comments")
# [quickstart: comments]
for visibility, text in ((Visibility.INTERNAL, "Upstream load balancer restarted."),
                         (Visibility.PUBLIC, "We are on it; next update by 10:00 UTC.")):
    posted = call(comment_incident, client=api, id=incident.id,
                  idempotency_key=str(uuid.uuid4()),
                  body=CommentIn(body=text, visibility=visibility))
    assert posted.status_code == 201
comments = call(list_incident_comments, client=api, id=incident.id).parsed
# [/quickstart]
assert isinstance(comments, CommentPage) and len(comments.items) == 2
assert all(isinstance(c, CommentOut) for c in comments.items)
assert sorted(c.visibility for c in comments.items) == ["internal", "public"]

step("SLA timeline")
# [quickstart: sla]
sla = call(get_incident_sla, client=api, id=incident.id).parsed
for clock in sla.clocks:
    print(clock.name, clock.kind, clock.status, clock.elapsed_seconds, clock.due_at)
    for mark in clock.marks:  # SlaStarted, SlaPaused, …, SlaThreshold: switch on the type
        print("  ", mark.at, mark.mark, getattr(mark, "percent", ""))
# [/quickstart]
assert isinstance(sla, IncidentSlaOut) and sla.incident_id == incident.id
assert sla.clocks, "the demo customer has SLA definitions, so the incident has clocks"
response_clock = next(c for c in sla.clocks if c.kind == "response" and c.status == "stopped")
assert isinstance(response_clock.marks[0], SlaStarted)
assert isinstance(response_clock.marks[-1], SlaStopped)  # work started: responded
assert response_clock.status == "stopped" and response_clock.target_seconds > 0

step("problems")
# [quickstart: problems]
problem = call(create_problem, client=api, idempotency_key=str(uuid.uuid4()),
               body=ProblemIn(title="Load balancer drops upstream connections")).parsed
linked = call(link_problem_incident, client=api, id=problem.id, incident_id=incident.id)
assert linked.status_code == 200 and incident.id in linked.parsed.linked_incidents
# [/quickstart]
assert isinstance(problem, ProblemOut) and problem.number.startswith("PRB")
again = expect(call(get_problem, client=api, id=problem.id), 200, ProblemOut)
assert incident.id in again.linked_incidents
problems = expect(call(list_problems, client=api, limit=1), 200, ProblemPage)
assert len(problems.items) == 1 and isinstance(problems.items[0], ProblemOut)

step("a 422 and a 404 as problem+json")
# [quickstart: errors]
invalid = call(create_incident, client=api, idempotency_key=str(uuid.uuid4()),
               body=IncidentIn(title="", impact=9, urgency=2))
assert invalid.status_code == 422 and invalid.parsed.code == "validation_failed"
print([(e.pointer, e.code) for e in invalid.parsed.errors])  # every invalid field at once
missing = call(get_incident, client=api, id=uuid.uuid4())
assert missing.status_code == 404 and missing.parsed.code == "not_found"
# [/quickstart]
assert isinstance(invalid.parsed, Problem) and isinstance(missing.parsed, Problem)
assert {e.pointer for e in invalid.parsed.errors} >= {"/title", "/impact"}
assert invalid.headers["content-type"].startswith("application/problem+json")

print("  opc: every step passed")
