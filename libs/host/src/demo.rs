//! The demo data set across services (`itsm seed --demo`, `itsm serve --demo`): identity seeds
//! the tenants and people first and lists them here; each service after it seeds its part for
//! the customers identity made.
use async_trait::async_trait;
use uuid::Uuid;

/// What the services seeding the demo pass on to each other.
pub struct Demo {
    /// Every demo login's password.
    pub password: String,
    /// Filled by identity.
    pub logins: Vec<DemoLogin>,
    /// Filled by identity: every demo MSP's customers, one MSP after another.
    pub customers: Vec<DemoCustomer>,
    /// One line per service that seeded work data, for the operator.
    pub summaries: Vec<String>,
}

impl Demo {
    pub fn new(password: impl Into<String>) -> Self {
        Self {
            password: password.into(),
            logins: Vec::new(),
            customers: Vec::new(),
            summaries: Vec::new(),
        }
    }
}

pub struct DemoLogin {
    pub email: String,
    pub tenant: String,
    pub role: String,
}

/// A demo customer and the people its work data is raised by and assigned to.
#[derive(Clone, Debug)]
pub struct DemoCustomer {
    pub id: Uuid,
    pub slug: String,
    /// Ids from the root down to the customer.
    pub path: Vec<Uuid>,
    /// `agent@<slug>.demo.test`, a member of the service desk.
    pub agent: Uuid,
    /// `requester@<slug>.demo.test`.
    pub requester: Uuid,
    /// `service-owner@<slug>.demo.test`.
    pub service_owner: Uuid,
    /// The "Service Desk" group.
    pub desk: Uuid,
    /// The provider's `msp-admin@…`, who owns the provider's services.
    pub provider_admin: Uuid,
    /// The provider's "Service Desk" group (its `msp-agent@…`), which fulfils its
    /// catalogue items.
    pub provider_desk: Uuid,
    /// The provider's `msp-agent@…`, who writes the provider's knowledge.
    pub provider_agent: Uuid,
}

impl DemoCustomer {
    /// The MSP the customer belongs to.
    pub fn provider(&self) -> platform::tenancy::TenantId {
        platform::tenancy::TenantId(self.path[self.path.len().saturating_sub(2)])
    }
}

/// A service's part of the demo data set. Seeding twice changes nothing.
#[async_trait]
pub trait DemoSeed: Send + Sync {
    async fn seed_demo(&self, demo: &mut Demo) -> anyhow::Result<()>;
}

/// Seeds the demo with every started service that has a part, in the list's order. Before each
/// part after the first, the events written so far are delivered to the services' consumers
/// (in process, whatever the configured transport), so a part sees what earlier parts
/// announced: the catalogue's demo requests need identity's line managers in its projection.
pub async fn seed<'a>(
    services: impl IntoIterator<Item = (&'static str, &'a crate::Started)>,
    password: &str,
) -> anyhow::Result<Demo> {
    let services: Vec<_> = services.into_iter().collect();
    let mut transport = bus::inprocess::InProcess::new();
    for (_, s) in &services {
        for consumer in &s.consumers {
            transport = transport.subscribe(consumer.clone());
        }
    }
    let transport: std::sync::Arc<dyn bus::Transport> = std::sync::Arc::new(transport);
    let relays: Vec<bus::Relay> = services
        .iter()
        .map(|(name, s)| bus::Relay::new(name, s.db.clone(), transport.clone()))
        .collect();
    let mut demo = Demo::new(password);
    let parts = services.iter().filter_map(|(_, s)| s.demo.as_ref());
    for (i, part) in parts.enumerate() {
        if i > 0 {
            settle(&relays).await?;
        }
        part.seed_demo(&mut demo).await?;
    }
    Ok(demo)
}

/// Delivers every event waiting in the outboxes, and those their effects write, until none is
/// left.
async fn settle(relays: &[bus::Relay]) -> anyhow::Result<()> {
    loop {
        let mut sent = 0;
        for relay in relays {
            sent += relay.tick().await?;
        }
        if sent == 0 {
            return Ok(());
        }
    }
}
