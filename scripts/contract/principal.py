"""Signs in one principal of the demo data for a contract-test run and prints shell
assignments: TOKEN, and for a customer's principal CONTRACT_TENANT (the only tenant whose rows
it may see) and, for a requester, CONTRACT_CALLER (the only caller whose incidents it may see).

    python principal.py BASE_URL DEMO_PASSWORD msp|requester|client

`client` registers an API client as the customer's admin and takes its token through authlib,
a real OAuth 2.0 client library, with HTTP Basic client authentication (RFC 6749 §2.3.1); it
first checks that a wrong secret comes back as an RFC 6749 error authlib reads (§5.2:
`application/json`, 401 `invalid_client` with a `WWW-Authenticate: Basic` challenge).
"""
import json
import sys
import time
import urllib.error
import urllib.request

from authlib.integrations.requests_client import OAuth2Session, OAuthError

base, password, who = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)
    # The fuzzing before this may have spent this address's sign-in allowance: a refused
    # request says when to come back (Retry-After), and a well-behaved client does.
    for _ in range(12):
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return json.load(res)
        except urllib.error.HTTPError as e:
            if e.code != 429:
                raise
            time.sleep(min(int(e.headers.get("retry-after") or 5), 30))
    sys.exit(f"{method} {path}: still 429 after waiting as told")


def login(email):
    return call("POST", "/api/v1/auth/login", body={"email": email, "password": password})[
        "access_token"
    ]


for _ in range(300):
    try:
        urllib.request.urlopen(f"{base}/readyz", timeout=1)
        break
    except Exception:
        time.sleep(0.2)
else:
    sys.exit("itsm did not become ready")

if who == "msp":
    print(f"TOKEN={login('msp-admin@demo.test')}")
elif who == "requester":
    token = login("requester@globex.demo.test")
    # The incident service learns users from identity's events: wait until it lists.
    for _ in range(100):
        try:
            call("GET", "/api/v1/incidents", token)
            break
        except Exception:
            time.sleep(0.1)
    me = call("GET", "/api/v1/users/me", token)
    print(f"TOKEN={token}")
    print(f"CONTRACT_TENANT={me['tenant_id']}")
    print(f"CONTRACT_CALLER={me['id']}")
elif who == "client":
    admin = login("admin@globex.demo.test")
    me = call("GET", "/api/v1/users/me", admin)
    registered = call(
        "POST",
        "/api/v1/api-clients",
        admin,
        {"name": "Contract test", "scopes": ["incident:read", "incident:write", "problem:read"]},
    )
    client_id, secret = registered["client"]["id"], registered["client_secret"]
    endpoint = f"{base}/oauth/token"
    wrong = OAuth2Session(client_id, "cs_wrong", token_endpoint_auth_method="client_secret_basic")
    # The fuzzing run before this one may have spent this address's sign-in budget: a 429
    # (which authlib hands back as the token) is waited out, as for the right secret below.
    for _ in range(12):
        try:
            answer = wrong.fetch_token(endpoint, grant_type="client_credentials")
        except OAuthError as e:
            assert e.error == "invalid_client", f"authlib read {e.error!r}"
            break
        if answer.get("status") != 429:
            sys.exit(f"a wrong client secret was accepted: {answer}")
        time.sleep(min(int(answer.get("retry_after") or 5), 30))
    else:
        sys.exit("the token endpoint kept answering 429")
    session = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_basic")
    for _ in range(12):
        token = session.fetch_token(endpoint, grant_type="client_credentials")
        if token.get("status") != 429:
            break
        time.sleep(min(int(token.get("retry_after") or 5), 30))
    assert token["token_type"].lower() == "bearer", token
    print(f"TOKEN={token['access_token']}")
    print(f"CONTRACT_TENANT={me['tenant_id']}")
else:
    sys.exit(f"no principal {who!r}")
