//! The knowledge part of the demo data set: the provider's shared "Reset your VPN password"
//! and globex's own "VPN disconnects every hour", each written by an agent and published by
//! someone else. Seeding twice changes nothing.
use host::DemoCustomer;
use platform::{
    ApiError,
    tenancy::{TenantId, begin_scoped},
};
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::article::{ArticleState, Audience},
    events,
    store::articles::{self, Content, ContentChanges},
};

/// A demo article: its title, body, whether customers read it too.
type DemoArticle = (&'static str, &'static str, bool);

const PROVIDER_ARTICLE: DemoArticle = (
    "Reset your VPN password",
    "Your VPN password is your network password. If it expired or you forgot it, open the \
     self-service password page, enter your email address and follow the reset link we send \
     you. The new password works for the VPN client within five minutes. Still locked out \
     after three attempts? Raise an incident and the service desk resets it for you.",
    true,
);

const GLOBEX_ARTICLE: DemoArticle = (
    "VPN disconnects every hour",
    "The VPN client drops the tunnel when the laptop goes to sleep on battery, which globex \
     laptops do after 60 minutes. Open Power settings, set sleep on battery to Never while \
     connected, then reconnect the VPN. The disconnects stop at once.",
    false,
);

/// Seeds the demo articles: how many were new.
pub async fn seed_demo(
    service: &CatalogueService,
    customers: &[DemoCustomer],
) -> Result<usize, ApiError> {
    let Some(first) = customers.first() else {
        return Ok(0);
    };
    let provider = first.provider();
    let mut seeded = usize::from(
        ensure(
            service,
            provider,
            PROVIDER_ARTICLE,
            first.provider_agent,
            first.provider_admin,
        )
        .await?,
    );
    if let Some(globex) = customers.iter().find(|c| c.slug == "globex") {
        let tenant = TenantId(globex.id);
        seeded += usize::from(
            ensure(
                service,
                tenant,
                GLOBEX_ARTICLE,
                globex.agent,
                globex.service_owner,
            )
            .await?,
        );
    }
    Ok(seeded)
}

/// The article titled as `article` in `tenant`, written by `author` and published by
/// `publisher` if missing; whether it is new.
async fn ensure(
    service: &CatalogueService,
    tenant: TenantId,
    (title, body, shared): DemoArticle,
    author: Uuid,
    publisher: Uuid,
) -> Result<bool, ApiError> {
    let txn = begin_scoped(&service.db, &[tenant]).await?;
    let exists = articles::list_newest(&txn, tenant, None, None, 1_000)
        .await?
        .iter()
        .any(|a| a.title == title);
    txn.commit().await?;
    if exists {
        return Ok(false);
    }
    // The number first, from its own short transaction (one connection when embedded).
    let number = service
        .numbers
        .next(&service.db, "knowledge_article_numbers", "KB", tenant)
        .await?;
    let txn = begin_scoped(&service.db, &[tenant]).await?;
    let content = Content {
        title: title.into(),
        body: body.into(),
        audience: Audience::Requesters,
        share_with_customers: shared,
    };
    let draft = articles::insert(&txn, tenant, number, content, author).await?;
    let mut rows = vec![draft];
    for (to, by) in [
        (ArticleState::Review, author),
        (ArticleState::Published, publisher),
    ] {
        let effects = articles::lifecycle(&rows)?
            .transition(to, by)
            .map_err(|r| ApiError::internal(format!("seeding {title}: {r:?}")))?;
        let now = platform::record::now();
        rows = articles::apply(&txn, rows, &effects, &ContentChanges::default(), by, now).await?;
    }
    if let Some(published) = rows.last() {
        events::article_published(&txn, published, None).await?;
    }
    txn.commit().await?;
    Ok(true)
}
