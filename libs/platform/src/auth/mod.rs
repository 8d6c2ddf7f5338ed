//! Bearer-token authentication and per-route scopes.
//!
//! Access tokens are EdDSA JWTs (`typ: at+jwt`, RFC 9068) verified against a JWKS: the algorithm
//! is pinned, and `iss`, `aud`, `exp`, `nbf` are required. A handler declares the scope it
//! needs in its signature — `auth: Auth<scopes::UserRead>` — so no route can forget it.
//!
//! Scopes ([`scopes`]) are granted by roles (`roles`) and carried in tokens' claims
//! (`principal`); keys come from a key set (`jwks`) that the `verifier` checks tokens
//! against; the extractor (`extractor`) turns a request into an [`Auth`].
mod extractor;
mod jwks;
mod principal;
mod roles;
pub mod scopes;
mod verifier;

pub use extractor::{Auth, AuthContext, PrincipalCache, authenticate};
pub use jwks::{KeySource, RemoteJwks};
pub use principal::{ACCESS_TOKEN_TYP, Claims, Principal, UserId, may_act_on};
pub use roles::{IMPLIED_SCOPES, Role, delegated_scopes, scopes_of, with_implied};
pub use scopes::{ALL_SCOPES, RequiredScope};
pub use verifier::{Verifier, VerifierReadiness};
