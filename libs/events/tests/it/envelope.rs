//! Envelope round trips and rejection of what is not an envelope.
use events::{Envelope, Event, identity::TenantStatusChanged};
use uuid::Uuid;

#[test]
fn envelope_round_trips_through_json() {
    let tenant = Uuid::now_v7();
    let payload = TenantStatusChanged {
        tenant_id: tenant,
        status: "suspended".into(),
    };
    let env = Envelope::new(
        tenant,
        tenant,
        7,
        &payload,
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    );
    let Ok(env) = env else { panic!("envelope") };
    let bytes = serde_json::to_vec(&env).unwrap_or_default();
    let back = Envelope::parse(&bytes);
    assert_eq!(back.as_ref().ok(), Some(&env));
    assert_eq!(env.event_type, "itsm.identity.tenant.status_changed.v1");
    assert_eq!(env.routing_key(), "identity.tenant.status_changed");
    assert_eq!(env.source, "itsm/identity");
    assert_eq!(env.payload::<TenantStatusChanged>().ok(), Some(payload));
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    for attr in [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "tenantid",
        "traceparent",
        "data",
    ] {
        assert!(
            json.get(attr).is_some(),
            "missing CloudEvents attribute {attr}"
        );
    }
}

#[test]
fn garbage_and_wrong_versions_are_refused() {
    assert!(Envelope::parse(b"not json").is_err());
    assert!(Envelope::parse(b"{\"id\": 1}").is_err());
    let tenant = Uuid::now_v7();
    let Ok(mut env) = Envelope::new(
        tenant,
        tenant,
        1,
        &TenantStatusChanged {
            tenant_id: tenant,
            status: "active".into(),
        },
        None,
    ) else {
        panic!()
    };
    env.specversion = "0.3".into();
    assert!(Envelope::parse(&serde_json::to_vec(&env).unwrap_or_default()).is_err());
    env.specversion = "1.0".into();
    env.event_type = "itsm.identity.tenant.status_changed.v9".into();
    assert!(env.payload::<TenantStatusChanged>().is_err());
    assert_eq!(TenantStatusChanged::VERSION, 1);
}
