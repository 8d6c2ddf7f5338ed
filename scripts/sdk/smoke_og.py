"""A partner's first hour with the client openapi-generator (`-g python`) generates from
openapi/itsm.json (package `itsm_og`), against `itsm serve --demo`: the same steps as
smoke_opc.py, every one asserting on typed fields.

Run by scripts/sdk-check: `python smoke_og.py BASE_URL DEMO_PASSWORD` with the generated
package on PYTHONPATH.
"""

import sys
import uuid

from itsm_og import ApiClient, Configuration
from itsm_og.api.api_clients_api import ApiClientsApi
from itsm_og.api.auth_api import AuthApi
from itsm_og.api.incidents_api import IncidentsApi
from itsm_og.api.problems_api import ProblemsApi
from itsm_og.exceptions import ApiException
from itsm_og.models import (
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
    TokenOut,
    Transition,
    Visibility,
)

BASE, PASSWORD = sys.argv[1], sys.argv[2]


def step(name):
    print(f"  og: {name}", flush=True)


def client(token=None):
    return ApiClient(Configuration(host=BASE, access_token=token))


def problem_of(call, status):
    """The problem+json a call answers with, typed."""
    try:
        call()
    except ApiException as e:
        assert e.status == status, (e.status, e.body)
        content_type = {k.lower(): v for k, v in (e.headers or {}).items()}["content-type"]
        assert content_type.startswith("application/problem+json")
        problem = e.data if isinstance(e.data, Problem) else Problem.from_json(e.body)
        assert isinstance(problem, Problem) and problem.status == status
        return problem
    raise AssertionError(f"expected {status}")


def key():
    return str(uuid.uuid4())


def header(response, name):
    """A response header, by its name in any case."""
    return {k.lower(): v for k, v in (response.headers or {}).items()}.get(name.lower())


step("password login")
signed_in = AuthApi(client()).login(LoginIn(email="admin@globex.demo.test", password=PASSWORD))
assert isinstance(signed_in, TokenOut) and signed_in.token_type == "Bearer"
admin = client(signed_in.access_token)

step("register an API client")
scopes = ["incident:read", "incident:write", "problem:read", "problem:write"]
registered = ApiClientsApi(admin).create_api_client(
    ApiClientIn(name="Acme monitoring (og)", scopes=scopes), idempotency_key=key())
assert isinstance(registered, ApiClientSecretOut) and registered.client.scopes == scopes

step("client-credentials token")
issued = AuthApi(client()).issue_token(
    grant_type="client_credentials", client_id=str(registered.client.id),
    client_secret=registered.client_secret)
assert isinstance(issued, TokenOut) and "incident:write" in issued.scope.split()
api = client(issued.access_token)
incidents, problems = IncidentsApi(api), ProblemsApi(api)

step("create, with an idempotent retry")
body = IncidentIn(title="Checkout API answers 502", impact=2, urgency=2,
                  description="Since 09:10 UTC, about 30 % of requests fail.")
same = key()
created = incidents.create_incident_with_http_info(body, idempotency_key=same)
incident = created.data
assert created.status_code == 201 and isinstance(incident, IncidentOut)
assert incident.state == State.NEW and incident.priority == 3 and incident.version == 1
retried = incidents.create_incident_with_http_info(body, idempotency_key=same)
assert retried.data.id == incident.id and header(retried, "Idempotent-Replayed") == "true"
for title in ("Printer queue stuck", "VPN drops every hour"):
    assert isinstance(incidents.create_incident(IncidentIn(title=title, impact=3, urgency=3),
                                                idempotency_key=key()), IncidentOut)

step("get")
read = incidents.get_incident_with_http_info(incident.id)
assert isinstance(read.data, IncidentOut) and read.data.id == incident.id
etag = header(read, "ETag")
assert etag == '"1"'

step("list, two pages")
first = incidents.list_incidents(limit=2)
assert isinstance(first, IncidentPage) and len(first.items) == 2 and first.next_cursor
second = incidents.list_incidents(limit=2, cursor=first.next_cursor)
assert isinstance(second, IncidentPage) and len(second.items) >= 1
seen = first.items + second.items
assert all(isinstance(i, IncidentOut) for i in seen)
assert len({i.id for i in seen}) == len(seen), "pages overlap"

step("update with its version check")
updated = incidents.update_incident_with_http_info(incident.id, IncidentPatch(urgency=1),
                                                   if_match=etag)
assert isinstance(updated.data, IncidentOut)
assert updated.data.priority == 2 and updated.data.version == 2
etag = header(updated, "ETag")
stale = problem_of(lambda: incidents.update_incident(
    incident.id, IncidentPatch(title="A lost update"), if_match='"1"'), 412)
assert stale.code == "precondition_failed"

step("transition")
moved = incidents.transition_incident(incident.id, Transition(to=State.IN_PROGRESS),
                                      if_match=etag, idempotency_key=key())
assert isinstance(moved, IncidentOut) and moved.state == State.IN_PROGRESS
assert State.RESOLVED in moved.allowed_transitions

step("internal and public comments")
for visibility, text in ((Visibility.INTERNAL, "Upstream load balancer restarted."),
                         (Visibility.PUBLIC, "We are on it; next update by 10:00 UTC.")):
    posted = incidents.comment_incident(incident.id, CommentIn(body=text, visibility=visibility),
                                        idempotency_key=key())
    assert isinstance(posted, CommentOut) and posted.visibility == visibility.value
comments = incidents.list_incident_comments(incident.id)
assert isinstance(comments, CommentPage) and len(comments.items) == 2
assert sorted(c.visibility for c in comments.items) == ["internal", "public"]

step("SLA timeline")
sla = incidents.get_incident_sla(incident.id)
assert isinstance(sla, IncidentSlaOut) and sla.incident_id == incident.id
assert sla.clocks, "the demo customer has SLA definitions, so the incident has clocks"
responded = [c for c in sla.clocks if c.kind == "response" and c.status == "stopped"]
assert responded, [(c.name, c.kind, c.status) for c in sla.clocks]
marks = [m.actual_instance for m in responded[0].marks]
assert isinstance(marks[0], SlaStarted) and isinstance(marks[-1], SlaStopped), marks
assert responded[0].target_seconds > 0

step("problems")
problem = problems.create_problem(ProblemIn(title="Load balancer drops upstream connections"),
                                  idempotency_key=key())
assert isinstance(problem, ProblemOut) and problem.number.startswith("PRB")
linked = problems.link_problem_incident(problem.id, incident.id)
assert isinstance(linked, ProblemOut) and incident.id in linked.linked_incidents
assert incident.id in problems.get_problem(problem.id).linked_incidents
page = problems.list_problems(limit=1)
assert isinstance(page, ProblemPage) and isinstance(page.items[0], ProblemOut)

step("a 422 and a 404 as problem+json")
invalid = problem_of(lambda: incidents.create_incident(
    IncidentIn(title="", impact=9, urgency=2), idempotency_key=key()), 422)
assert invalid.code == "validation_failed"
assert {e.pointer for e in invalid.errors} >= {"/title", "/impact"}
missing = problem_of(lambda: incidents.get_incident(uuid.uuid4()), 404)
assert missing.code == "not_found"

print("  og: every step passed")
