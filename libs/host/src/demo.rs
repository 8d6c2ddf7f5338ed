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

/// Seeds the demo with every started service that has a part, in the list's order.
pub async fn seed<'a>(
    services: impl IntoIterator<Item = &'a crate::Started>,
    password: &str,
) -> anyhow::Result<Demo> {
    let mut demo = Demo::new(password);
    for seed in services.into_iter().filter_map(|s| s.demo.as_ref()) {
        seed.seed_demo(&mut demo).await?;
    }
    Ok(demo)
}
