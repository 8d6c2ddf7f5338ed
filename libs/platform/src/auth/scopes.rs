//! Every scope the platform knows, declared once, and a marker type per scope for routes
//! (`Auth<scopes::UserRead>`), so a handler states the scope it needs in its signature.

/// A scope a route requires.
pub trait RequiredScope {
    const SCOPE: &'static str;
}

/// Declares every scope once: `ALL_SCOPES` (what roles grant, clients may ask for, and the
/// discovery document and OpenAPI list) and a marker type per scope for routes
/// (`Auth<scopes::UserRead>`). A new scope is one line here.
macro_rules! declare_scopes {
    ($($name:ident = $scope:literal),* $(,)?) => {
        /// Every scope the platform knows. Routes name one of these.
        pub const ALL_SCOPES: &[&str] = &[$($scope),*];

        $(
            #[doc = concat!("Requires the `", $scope, "` scope.")]
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: &'static str = $scope;
            }
        )*
    };
}

declare_scopes!(
    TenantRead = "tenant:read",
    TenantWrite = "tenant:write",
    TenantOnboard = "tenant:onboard",
    UserRead = "user:read",
    UserWrite = "user:write",
    GroupRead = "group:read",
    GroupWrite = "group:write",
    ApiClientManage = "api_client:manage",
    AuditRead = "audit:read",
    SigningKeyRotate = "signing_key:rotate",
    IncidentRead = "incident:read",
    IncidentWrite = "incident:write",
    IncidentReadOwn = "incident:read_own",
    IncidentWriteOwn = "incident:write_own",
    ProblemRead = "problem:read",
    ProblemWrite = "problem:write",
    SlaAdmin = "sla:admin",
    PortfolioWrite = "portfolio:write",
    CatalogueRead = "catalogue:read",
    CatalogueWrite = "catalogue:write",
    RequestRead = "request:read",
    RequestWrite = "request:write",
    RequestSubmit = "request:submit",
    RequestFulfil = "request:fulfil",
    RequestApprove = "request:approve",
    ApprovalDecide = "approval:decide",
    ChangeRead = "change:read",
    ChangeWrite = "change:write",
    ChangeApprove = "change:approve",
    ChangeManage = "change:manage",
    CmdbRead = "cmdb:read",
    CmdbWrite = "cmdb:write",
    CmdbImport = "cmdb:import",
    CmdbAdmin = "cmdb:admin",
    KnowledgeRead = "knowledge:read",
    KnowledgeWrite = "knowledge:write",
    KnowledgePublish = "knowledge:publish",
    AnalyticsRead = "analytics:read",
    AnalyticsExport = "analytics:export",
    ImprovementRead = "improvement:read",
    ImprovementWrite = "improvement:write",
    CapacityRead = "capacity:read",
    CapacityWrite = "capacity:write",
    CapacityIngest = "capacity:ingest",
    BusAdmin = "bus:admin",
);

/// Any authenticated principal.
pub struct Authenticated;
impl RequiredScope for Authenticated {
    const SCOPE: &'static str = "";
}
