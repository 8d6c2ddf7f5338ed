//! Catalogue benchmarks on real PostgreSQL, in one run:
//!
//! 1. submitting the demo `new-laptop` (standard model: auto-approved, straight to its first
//!    fulfilment stage) over HTTP vs `pgbench` writing the same rows: those of the submission's
//!    own transaction (the request, its item, two tasks, four outbox events, the knowledge
//!    record), and everything the submission causes (the relays marking events sent, the
//!    incident service starting the item's SLA clock, the catalogue recording its standing);
//! 2. `GET /api/v1/catalogue/effective?limit=50` for a customer of a small provider (50 items,
//!    10 customers) and for a customer of a large one (5,000 items, 1,000 customers, each
//!    overriding five items), side by side in alternating rounds. The page must cost the same
//!    whatever the provider's size.
//!
//! `cargo build --release -p itsm -p e2e && cargo run --release -p e2e --bin bench_catalogue`
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

const PASSWORD: &str = "bench-catalogue-password-1";
const CONCURRENCY: usize = 8;
const ROUND: Duration = Duration::from_secs(10);

use e2e::exec;

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
    expect: u16,
) -> anyhow::Result<Value> {
    let mut req = client.request(method, &url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status == expect, "{url}: {status} {body}");
    Ok(body)
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

/// A live provider service with one published item (the template the rest are copied from).
async fn provider_item(client: &reqwest::Client, base: &str, msp: &str) -> anyhow::Result<String> {
    use reqwest::Method;
    let me = call(
        client,
        Method::GET,
        format!("{base}/api/v1/users/me"),
        msp,
        None,
        200,
    )
    .await?;
    let group = call(
        client,
        Method::POST,
        format!("{base}/api/v1/groups"),
        msp,
        Some(json!({"name": "Bench fulfilment"})),
        201,
    )
    .await?;
    let (owner, group) = (me["id"].clone(), id(&group));
    // The catalogue learns the new group from identity's events: retry until it does.
    let mut service = Value::Null;
    for _ in 0..100 {
        let res = client
            .post(format!("{base}/api/v1/services"))
            .bearer_auth(msp)
            .json(&json!({"name": "Bench workplace", "owner_id": owner, "manager_id": owner, "support_group_id": group}))
            .send()
            .await?;
        if res.status().as_u16() == 201 {
            service = res.json().await?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let service = id(&service);
    anyhow::ensure!(
        !service.is_empty(),
        "the catalogue never learned the provider's group"
    );
    call(
        client,
        Method::POST,
        format!("{base}/api/v1/catalogue/offerings"),
        msp,
        Some(json!({"service_id": service, "name": "Bench workplace — standard"})),
        201,
    )
    .await?;
    let item = call(client, Method::POST, format!("{base}/api/v1/catalogue/items"), msp, Some(json!({
        "key": "bench-0", "name": "Bench laptop", "service_id": service,
        "form_schema": {"type": "object", "properties": {
            "model": {"type": "string", "enum": ["standard-14", "performance-16"]},
            "justification": {"type": "string", "minLength": 1},
            "cost_center": {"type": "string", "pattern": "^CC-[0-9]{4}$"}
        }, "required": ["model", "cost_center"]},
        "price_amount": "1200.00", "currency": "EUR", "cost_amount": "950.00",
        "fulfilment_plan": {"stages": [{"name": "Deliver", "tasks": [{"name": "Hand over", "group_id": group}]}]}
    })), 201).await?;
    let item = id(&item);
    call(
        client,
        Method::POST,
        format!("{base}/api/v1/catalogue/items/{item}/transitions"),
        msp,
        Some(json!({"to": "published"})),
        200,
    )
    .await?;
    for to in ["design", "transition", "live"] {
        call(
            client,
            Method::POST,
            format!("{base}/api/v1/services/{service}/stage"),
            msp,
            Some(json!({"to": to, "rationale": "Bench"})),
            200,
        )
        .await?;
    }
    Ok(item)
}

/// Grows the provider `slug` to `items` items (copies of `template`) and `customers`
/// customers (projected directory rows beside its real ones), each new customer overriding
/// five of its items.
async fn grow(
    su: &DatabaseConnection,
    slug: &str,
    template: &str,
    items: usize,
    customers: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let provider = scalar(
        su,
        &format!("SELECT id::text AS v FROM catalogue.tenant_directory WHERE slug = '{slug}'"),
    )
    .await?;
    let have: i64 = count(
        su,
        &format!("SELECT count(*) AS n FROM catalogue.items WHERE tenant_id = '{provider}'"),
    )
    .await?;
    let more_items = items as i64 - have;
    if more_items > 0 {
        su.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO catalogue.items SELECT gen_random_uuid(), tenant_id, 'bench-' || (g + {have}), \
                 name || ' ' || (g + {have}), description, service_id, offering_id, category_id, state, \
                 form_schema, price_amount, currency, cost_amount, max_quantity, availability, \
                 approval_policy, fulfilment_plan, version, created_at, updated_at \
                 FROM catalogue.items, generate_series(1, {more_items}) g WHERE id = $1::uuid"
            ),
            [template.into()],
        ))
        .await?;
    }
    let have: i64 = count(
        su,
        &format!(
            "SELECT count(*) AS n FROM catalogue.tenant_directory WHERE parent_id = '{provider}'"
        ),
    )
    .await?;
    let more = customers as i64 - have;
    if more > 0 {
        exec(su, &format!(
            "INSERT INTO catalogue.tenant_directory (id, parent_id, path, kind, slug, status, settings, version) \
             SELECT c.id, m.id, m.path || '/' || c.id::text, 'customer', 'bench-' || c.id::text, 'active', '{{}}', 1 \
             FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(1, {more}) g) c, \
             catalogue.tenant_directory m WHERE m.id = '{provider}'"
        )).await?;
        exec(su, &format!(
            "INSERT INTO catalogue.item_overrides (id, tenant_id, item_id, hidden, name, approval_policy, \
             price_amount, version, created_at, updated_at) \
             SELECT gen_random_uuid(), c.id, i.id, (random() < 0.5), NULL, NULL, '999.00', 1, now(), now() \
             FROM catalogue.tenant_directory c \
             CROSS JOIN LATERAL (SELECT id FROM catalogue.items WHERE tenant_id = c.parent_id ORDER BY random() LIMIT 5) i \
             WHERE c.parent_id = '{provider}' AND c.slug LIKE 'bench-%' \
             AND NOT EXISTS (SELECT 1 FROM catalogue.item_overrides o WHERE o.tenant_id = c.id) \
             ON CONFLICT DO NOTHING"
        )).await?;
    }
    eprintln!(
        "  {slug}: {items} items, {customers} customers ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A new provider (`slug`) with one customer (`<slug>-customer`): the provider admin's and the
/// customer admin's tokens.
async fn small_provider(
    client: &reqwest::Client,
    base: &str,
    platform: &str,
    slug: &str,
) -> anyhow::Result<(String, String)> {
    use reqwest::Method;
    let mut tokens = Vec::new();
    let mut acting = platform.to_string();
    for (name, tenant) in [
        (format!("{slug} MSP"), slug.to_string()),
        (format!("{slug} customer"), format!("{slug}-customer")),
    ] {
        let email = format!("admin@{tenant}.example");
        let made = call(
            client,
            Method::POST,
            format!("{base}/api/v1/tenants"),
            &acting,
            Some(json!({"name": name, "slug": tenant, "admin_email": email})),
            201,
        )
        .await?;
        let invitation = made["invitation"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let res = client
            .post(format!("{base}/api/v1/invitations/accept"))
            .json(&json!({"token": invitation, "password": PASSWORD}))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "accepting {email}: {}",
            res.status()
        );
        let token = e2e::login(client, base, &email, PASSWORD).await?;
        // The new admin acts in a tenant the catalogue learns from identity's events.
        for _ in 0..100 {
            let res = client
                .get(format!("{base}/api/v1/catalogue/effective"))
                .bearer_auth(&token)
                .send()
                .await?;
            if res.status().is_success() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        acting = token.clone();
        tokens.push(token);
    }
    Ok((tokens[0].clone(), tokens[1].clone()))
}

/// `pgbench` running `script` with [`CONCURRENCY`] clients for `secs`: transactions per second.
fn pgbench(url: &str, script: &std::path::Path, secs: u64) -> anyhow::Result<f64> {
    e2e::pgbench(url, script, CONCURRENCY, secs)
}

async fn scalar(su: &DatabaseConnection, sql: &str) -> anyhow::Result<String> {
    let row = su
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row: {sql}"))?;
    Ok(row.try_get::<String>("", "v")?)
}

/// What one submission round measured: HTTP, and pgbench on the submission's rows alone and on
/// everything a submission causes.
struct SubmitFigures {
    http: f64,
    p50: f64,
    p95: f64,
    pg_submission: f64,
    pg_whole: f64,
}

/// Waits until the incident service has started `ritm`'s clock and the catalogue recorded its
/// standing, so their rows can be copied; returns the clock's id.
async fn settled_clock(su: &DatabaseConnection, ritm: &str) -> anyhow::Result<String> {
    for _ in 0..100 {
        let n = count(
            su,
            &format!(
                "SELECT count(*) AS n FROM incident.sla_clocks c JOIN catalogue.request_items i \
                 ON i.id = c.subject_id WHERE c.subject_id = '{ritm}' AND i.sla_state IS NOT NULL"
            ),
        )
        .await?;
        if n == 1 {
            return scalar(
                su,
                &format!(
                    "SELECT id::text AS v FROM incident.sla_clocks WHERE subject_id = '{ritm}'"
                ),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("request item {ritm} got no clock")
}

/// Commits in this database and WAL flushes so far (the statistics other backends report
/// about once a second, hence the pause).
async fn database_work(su: &DatabaseConnection) -> anyhow::Result<(i64, i64)> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let commits = count(
        su,
        "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()",
    )
    .await?;
    let flushes = count(su, "SELECT wal_sync AS n FROM pg_stat_wal").await?;
    Ok((commits, flushes))
}

/// How long after the load the consumers took to give every request item its SLA standing,
/// so the next measure does not share the machine with their backlog.
async fn caught_up(su: &DatabaseConnection) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while count(
        su,
        "SELECT count(*) AS n FROM catalogue.request_items WHERE sla_state IS NULL",
    )
    .await?
        > 0
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the consumers did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(started.elapsed())
}

/// The pgbench scripts: the rows a submission writes in its own transaction (`.0`), and all the
/// rows it causes, in the transactions the services commit them (`.1`): the submission, the
/// catalogue's relay marking its four events sent, the incident service's consumer recording
/// the item and starting its clock (inbox row, projection row, calendar pin, clock, its
/// marks, the standing event), its relay, and the catalogue's consumer recording the standing
/// on the item. Reads the services make are left out: the reference is the writes alone.
async fn scripts(
    su: &DatabaseConnection,
    ritm: &str,
    clock: &str,
) -> anyhow::Result<(String, String)> {
    let value = |sql: String| async move { scalar(su, &sql).await };
    let tenant = value(format!(
        "SELECT tenant_id::text AS v FROM catalogue.request_items WHERE id = '{ritm}'"
    ))
    .await?;
    let requester = value(format!(
        "SELECT requester_id::text AS v FROM catalogue.request_items WHERE id = '{ritm}'"
    ))
    .await?;
    for (copy, table) in [
        ("bench_requests", "catalogue.requests"),
        ("bench_request_items", "catalogue.request_items"),
        ("bench_tasks", "catalogue.fulfilment_tasks"),
        ("bench_outbox", "catalogue.outbox"),
        ("bench_raised", "catalogue.knowledge_raised"),
        ("bench_sessions", "catalogue.knowledge_sessions"),
        ("bench_catalogue_inbox", "catalogue.inbox"),
        ("bench_incident_inbox", "incident.inbox"),
        ("bench_sla_items", "incident.sla_request_items"),
        ("bench_snapshots", "incident.sla_calendar_snapshots"),
        ("bench_clocks", "incident.sla_clocks"),
        ("bench_clock_events", "incident.sla_clock_events"),
        ("bench_incident_outbox", "incident.outbox"),
    ] {
        exec(su, &format!("DROP TABLE IF EXISTS public.{copy}")).await?;
        exec(
            su,
            &format!("CREATE TABLE public.{copy} (LIKE {table} INCLUDING ALL)"),
        )
        .await?;
    }
    exec(
        su,
        "INSERT INTO public.bench_snapshots SELECT * FROM incident.sla_calendar_snapshots",
    )
    .await?;
    exec(su, "DROP SEQUENCE IF EXISTS public.bench_numbers").await?;
    exec(su, "CREATE SEQUENCE public.bench_numbers").await?;
    let envelope = format!(
        "{{\"specversion\":\"1.0\",\"data\":\"{}\"}}",
        "x".repeat(600)
    );
    let outbox_row =
        |id: &str, key: &str| format!("('{id}', '{tenant}', '{key}', '{envelope}', now())");
    // The request, its item (copied from the one just submitted: same variables, policy and
    // plan), the first stage's two tasks, the four events and the knowledge record of a
    // request raised, scoped like the service's.
    let submission = format!(
        "SELECT gen_random_uuid() AS request, gen_random_uuid() AS ritm, gen_random_uuid() AS e1, \
         gen_random_uuid() AS e2, gen_random_uuid() AS e3, gen_random_uuid() AS e4, \
         gen_random_uuid() AS clock, gen_random_uuid() AS standing \\gset\n\
         BEGIN;\nSELECT set_config('app.tenant_ids', '{tenant}', true);\n\
         INSERT INTO public.bench_requests (id, tenant_id, number, requester_id, state, version, created_at, updated_at) \
         VALUES (':request', '{tenant}', 'REQ' || nextval('public.bench_numbers'), '{requester}', 'open', 1, now(), now());\n\
         INSERT INTO public.bench_request_items (id, tenant_id, request_id, number, requester_id, item_id, item_tenant_id, \
         item_version, service_id, name, quantity, variables, approval_policy, fulfilment_plan, price_amount, currency, \
         state, approval_state, approval_step, fulfilment_stage, close_reason, version, created_at, updated_at) \
         SELECT ':ritm', tenant_id, ':request', 'RITM' || nextval('public.bench_numbers'), requester_id, item_id, \
         item_tenant_id, item_version, service_id, name, quantity, variables, approval_policy, fulfilment_plan, price_amount, \
         currency, state, approval_state, approval_step, fulfilment_stage, close_reason, 1, now(), now() \
         FROM catalogue.request_items WHERE id = '{ritm}';\n\
         INSERT INTO public.bench_tasks (id, tenant_id, request_item_id, number, stage, name, group_id, state, version, created_at, updated_at) \
         SELECT gen_random_uuid(), tenant_id, ':ritm', 'TASK' || nextval('public.bench_numbers'), stage, name, \
         group_id, state, 1, now(), now() FROM catalogue.fulfilment_tasks WHERE request_item_id = '{ritm}';\n\
         INSERT INTO public.bench_outbox (id, tenant_id, routing_key, envelope, created_at) VALUES {}, {}, {}, {};\n\
         INSERT INTO public.bench_raised (id, tenant_id, user_id, kind, at) VALUES (':request', '{tenant}', '{requester}', 'request', now());\n\
         UPDATE public.bench_sessions SET outcome = 'raised', decided_at = now() WHERE tenant_id = '{tenant}' \
         AND user_id = '{requester}' AND outcome = 'pending' AND solved_at IS NULL \
         AND first_viewed_at BETWEEN now() - interval '30 minutes' AND now();\n\
         COMMIT;\n",
        outbox_row(":e1", "catalogue.request_item.state_changed"),
        outbox_row(":e2", "catalogue.fulfilment_task.created"),
        outbox_row(":e3", "catalogue.fulfilment_task.created"),
        outbox_row(":e4", "catalogue.request.submitted"),
    );
    let caused = format!(
        "BEGIN;\nSELECT id FROM public.bench_outbox WHERE id IN (':e1', ':e2', ':e3', ':e4') FOR UPDATE;\n\
         UPDATE public.bench_outbox SET sent_at = now() WHERE id IN (':e1', ':e2', ':e3', ':e4');\nCOMMIT;\n\
         BEGIN;\nSELECT set_config('app.tenant_ids', '{tenant}', true);\n\
         INSERT INTO public.bench_incident_inbox (consumer, event_id, processed_at) VALUES ('incident', ':e1', now());\n\
         INSERT INTO public.bench_sla_items (id, tenant_id, number, state, version) \
         SELECT ':ritm', tenant_id, number, state, version FROM incident.sla_request_items WHERE id = '{ritm}';\n\
         INSERT INTO public.bench_snapshots SELECT * FROM incident.sla_calendar_snapshots \
         WHERE digest = (SELECT calendar_digest FROM incident.sla_clocks WHERE id = '{clock}') ON CONFLICT DO NOTHING;\n\
         INSERT INTO public.bench_clocks (id, tenant_id, subject_id, definition_id, name, kind, target_seconds, \
         calendar_digest, rules, status, elapsed_seconds, since, reached, due_at, next_fire_at, version, created_at, \
         updated_at, subject) SELECT ':clock', tenant_id, ':ritm', definition_id, name, kind, target_seconds, \
         calendar_digest, rules, status, elapsed_seconds, now(), reached, due_at, next_fire_at, 1, now(), now(), subject \
         FROM incident.sla_clocks WHERE id = '{clock}';\n\
         INSERT INTO public.bench_clock_events (id, tenant_id, clock_id, at, mark) SELECT gen_random_uuid(), tenant_id, \
         ':clock', now(), mark FROM incident.sla_clock_events WHERE clock_id = '{clock}';\n\
         INSERT INTO public.bench_incident_outbox (id, tenant_id, routing_key, envelope, created_at) VALUES {};\n\
         COMMIT;\n\
         BEGIN;\nUPDATE public.bench_incident_outbox SET sent_at = now() WHERE id = ':standing';\nCOMMIT;\n\
         BEGIN;\nSELECT set_config('app.tenant_ids', '{tenant}', true);\n\
         INSERT INTO public.bench_catalogue_inbox (consumer, event_id, processed_at) VALUES ('catalogue', ':standing', now());\n\
         UPDATE public.bench_request_items SET sla_state = 'on_track', sla_due_at = now() + interval '1 day', \
         sla_version = 1 WHERE id = ':ritm';\nCOMMIT;\n",
        outbox_row(":standing", "incident.request_item_sla.changed"),
    );
    Ok((submission.clone(), format!("{submission}{caused}")))
}

/// Submits over HTTP and runs pgbench on the submission's rows and on all the rows it causes,
/// in alternating rounds; the best round of each.
async fn submit(
    su: &DatabaseConnection,
    db_url: &str,
    base: &str,
    requester: &str,
) -> anyhow::Result<SubmitFigures> {
    let client = reqwest::Client::new();
    let page = call(
        &client,
        reqwest::Method::GET,
        format!("{base}/api/v1/catalogue/effective"),
        requester,
        None,
        200,
    )
    .await?;
    let laptop = page["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == "new-laptop"))
        .map(id)
        .ok_or_else(|| anyhow::anyhow!("the demo laptop"))?;
    let body = json!({"items": [{"item_id": laptop, "variables": {"model": "standard-14", "cost_center": "CC-1234"}}]});
    let made = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/requests"),
        requester,
        Some(body.clone()),
        201,
    )
    .await?;
    anyhow::ensure!(
        made["items"][0]["approval_state"] == "auto_approved",
        "{made}"
    );
    let ritm = made["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let clock = settled_clock(su, &ritm).await?;
    let (submission, whole) = scripts(su, &ritm, &clock).await?;
    let dir = std::env::temp_dir();
    let submission_script = dir.join(format!("bench_submission_{}.sql", std::process::id()));
    let whole_script = dir.join(format!("bench_submission_whole_{}.sql", std::process::id()));
    std::fs::write(&submission_script, submission)?;
    std::fs::write(&whole_script, whole)?;
    let url = format!("{base}/api/v1/requests");
    let token = requester.to_string();
    let make =
        move |client: &reqwest::Client| client.post(url.as_str()).bearer_auth(&token).json(&body);
    eprintln!("  submit: warming up");
    let make = std::sync::Arc::new(make);
    let m = make.clone();
    e2e::load_with(CONCURRENCY, Duration::from_secs(2), move |c| m(c)).await;
    pgbench(db_url, &submission_script, 2)?;
    pgbench(db_url, &whole_script, 2)?;
    let (mut http, mut pg, mut pg_whole) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=2 {
        let m = make.clone();
        let before = database_work(su).await?;
        let run = e2e::load_with(CONCURRENCY, ROUND, move |c| m(c)).await;
        anyhow::ensure!(run.errors == 0, "{} submissions failed", run.errors);
        let caught_up = caught_up(su).await?;
        let after = database_work(su).await?;
        eprintln!(
            "  submit round {round}: consumers caught up {:.1} s after the round; per submission \
             {:.2} commits, {:.2} WAL flushes",
            caught_up.as_secs_f64(),
            (after.0 - before.0) as f64 / run.requests as f64,
            (after.1 - before.1) as f64 / run.requests as f64,
        );
        let tps = pgbench(db_url, &submission_script, ROUND.as_secs())?;
        let whole_tps = pgbench(db_url, &whole_script, ROUND.as_secs())?;
        eprintln!(
            "  submit round {round}: HTTP {:.0}/s (p95 {:.1} ms), pgbench {tps:.0}/s, \
             whole work {whole_tps:.0}/s",
            run.rps(),
            run.percentile_ms(95.0)
        );
        http.push(run);
        pg.push(tps);
        pg_whole.push(whole_tps);
    }
    let best = http
        .iter()
        .max_by(|a, b| a.rps().total_cmp(&b.rps()))
        .ok_or_else(|| anyhow::anyhow!("no round"))?;
    Ok(SubmitFigures {
        http: best.rps(),
        p50: best.percentile_ms(50.0),
        p95: best.percentile_ms(95.0),
        pg_submission: pg.iter().copied().fold(0.0, f64::max),
        pg_whole: pg_whole.iter().copied().fold(0.0, f64::max),
    })
}

async fn count(su: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = su
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let admin = testkit::postgres_admin()
        .await
        .ok_or_else(|| anyhow::anyhow!("PostgreSQL is required"))?;
    let (db_name, app_url, owner_url) = testkit::fresh_database(&admin).await;
    let itsm = e2e::start_on(&app_url, &owner_url, PASSWORD, 1, true).await?;
    let mut su_url = reqwest::Url::parse(&testkit::admin_url())?;
    su_url.set_path(&format!("/{db_name}"));
    let su = Database::connect(su_url.as_str()).await?;
    let client = reqwest::Client::new();
    let base = itsm.base.clone();
    let msp = e2e::login(&client, &base, "msp-admin@demo.test", PASSWORD).await?;
    let customer = e2e::login(&client, &base, "requester@globex.demo.test", PASSWORD).await?;
    let f = submit(&su, su_url.as_str(), &base, &customer).await?;
    println!("### Submit `new-laptop` (standard, auto-approved): HTTP vs pgbench\n");
    println!(
        "| measure | HTTP `POST /api/v1/requests` | pgbench, the submission's rows | pgbench, all the rows a submission causes |"
    );
    println!("|---|---|---|---|");
    println!(
        "| throughput (per s) | {:.0} | {:.0} | {:.0} |",
        f.http, f.pg_submission, f.pg_whole
    );
    println!(
        "| p50 / p95 latency (ms) | {:.1} / {:.1} | | |",
        f.p50, f.p95
    );
    println!(
        "\nRatio HTTP / pgbench: **{:.2}** against the submission's rows, **{:.2}** against all \
         the rows it causes (goal ≥ 0.4, p95 ≤ 25 ms)\n",
        f.http / f.pg_submission,
        f.http / f.pg_whole
    );

    // Two providers side by side: the demo MSP grown to 5,000 items and 1,000 customers, and a
    // small one with 50 items and 10 customers; a customer of each reads its first page, in
    // alternating rounds so drift on the machine touches both alike.
    let platform = e2e::login(&client, &base, "platform-admin@demo.test", PASSWORD).await?;
    let (small_msp, small_customer) = small_provider(&client, &base, &platform, "smallco").await?;
    let big_template = provider_item(&client, &base, &msp).await?;
    let small_template = provider_item(&client, &base, &small_msp).await?;
    grow(&su, "demo", &big_template, 5_000, 1_000).await?;
    grow(&su, "smallco", &small_template, 50, 10).await?;
    exec(&su, "VACUUM ANALYZE catalogue.items").await?;
    exec(&su, "VACUUM ANALYZE catalogue.item_overrides").await?;
    exec(&su, "VACUUM ANALYZE catalogue.tenant_directory").await?;
    let url = format!("{base}/api/v1/catalogue/effective?limit=50");
    let cases = [
        ("50 × 10", small_customer),
        ("5,000 × 1,000", customer.clone()),
    ];
    for (_, token) in &cases {
        let page = call(&client, reqwest::Method::GET, url.clone(), token, None, 200).await?;
        let shown = page["items"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(shown == 50, "a full page of 50, got {shown}");
        anyhow::ensure!(
            !page.to_string().contains("cost_amount"),
            "a customer never sees the cost"
        );
        e2e::load(&url, Some(token), 4, Duration::from_secs(2)).await;
    }
    let mut runs: Vec<e2e::Run> = cases
        .iter()
        .map(|_| e2e::Run {
            requests: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latencies_us: Vec::new(),
        })
        .collect();
    for round in 1..=3 {
        for (i, (name, token)) in cases.iter().enumerate() {
            let run = e2e::load(&url, Some(token), 4, Duration::from_secs(5)).await;
            eprintln!(
                "  effective round {round}, {name}: p95 {:.2} ms, {:.0}/s",
                run.percentile_ms(95.0),
                run.rps()
            );
            runs[i].requests += run.requests;
            runs[i].errors += run.errors;
            runs[i].elapsed += run.elapsed;
            runs[i].latencies_us.extend(run.latencies_us);
        }
    }
    println!("### Effective catalogue page: a small provider and a large one, side by side\n");
    println!(
        "| provider items × customers | requests | p50 (ms) | p95 (ms) | p99 (ms) | req/s | errors |"
    );
    println!("|---|---|---|---|---|---|---|");
    for ((name, _), run) in cases.iter().zip(&runs) {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
            run.requests,
            run.percentile_ms(50.0),
            run.percentile_ms(95.0),
            run.percentile_ms(99.0),
            run.rps(),
            run.errors
        );
    }
    println!(
        "\np95 ratio (5,000 × 1,000) / (50 × 10): **{:.2}** (goal ≤ 1.5, p95 ≤ 15 ms)",
        runs[1].percentile_ms(95.0) / runs[0].percentile_ms(95.0)
    );
    Ok(())
}
