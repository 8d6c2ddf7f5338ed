//! The services the platform is made of, in start order: `itsm serve`, `migrate`, `seed` and
//! `openapi`, the chart check and the test harness all run this list. A new service adds its
//! line here (docs/adding-a-service.md).

/// Identity first: it issues the tokens the others verify and seeds the tenants and people
/// their demo data belongs to.
pub const SERVICES: &[&dyn host::Service] = &[
    identity::SERVICE,
    incident::SERVICE,
    catalogue::SERVICE,
    change::SERVICE,
    analytics::SERVICE,
];

#[cfg(test)]
mod tests {
    use host::amqp_urls;
    use platform::settings::{Secret, Settings};

    use super::SERVICES;

    fn with(amqp_url: Option<&str>, per_service: &[(&str, &str)]) -> Settings {
        Settings {
            amqp_url: amqp_url.map(Secret::new),
            amqp_urls: per_service
                .iter()
                .map(|(s, u)| (s.to_string(), Secret::new(*u)))
                .collect(),
            ..Settings::default()
        }
    }

    fn urls(
        settings: &Settings,
        only: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>, String> {
        amqp_urls(SERVICES, settings, only)
            .map(|m| m.into_iter().collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn without_amqp_urls_events_stay_in_process() {
        assert_eq!(urls(&with(None, &[]), None), Ok(vec![]));
    }

    #[test]
    fn each_service_connects_with_its_own_url() {
        let settings = with(
            None,
            &[
                ("identity", "amqp://itsm-identity:a@mq/%2f"),
                ("incident", "amqp://itsm-incident:b@mq/%2f"),
                ("catalogue", "amqp://itsm-catalogue:c@mq/%2f"),
                ("change", "amqp://itsm-change:d@mq/%2f"),
                ("analytics", "amqp://itsm-analytics:e@mq/%2f"),
            ],
        );
        assert_eq!(
            urls(&settings, None),
            Ok(vec![
                ("analytics", "amqp://itsm-analytics:e@mq/%2f".to_string()),
                ("catalogue", "amqp://itsm-catalogue:c@mq/%2f".to_string()),
                ("change", "amqp://itsm-change:d@mq/%2f".to_string()),
                ("identity", "amqp://itsm-identity:a@mq/%2f".to_string()),
                ("incident", "amqp://itsm-incident:b@mq/%2f".to_string()),
            ])
        );
        // One service alone takes ITSM_AMQP_URL.
        let alone = with(Some("amqps://itsm-incident:b@mq:5671/itsm"), &[]);
        assert_eq!(
            urls(&alone, Some("incident")),
            Ok(vec![(
                "incident",
                "amqps://itsm-incident:b@mq:5671/itsm".to_string()
            )])
        );
    }

    #[test]
    fn a_url_of_another_broker_user_is_refused_at_start() {
        let shared = with(Some("amqp://guest:guest@mq/%2f"), &[]);
        assert_eq!(
            urls(&shared, None),
            Err(
                "the RabbitMQ URL of identity logs in as \"guest\"; identity must connect as \
                 \"itsm-identity\", the only user other services accept its events from (ADR 19)"
                    .into()
            )
        );
        let swapped = with(Some("amqp://itsm-identity:a@mq/%2f"), &[]);
        assert!(urls(&swapped, Some("incident")).is_err());
        let unknown = with(None, &[("billing", "amqp://itsm-billing:c@mq/%2f")]);
        assert_eq!(
            urls(&unknown, None),
            Err(
                "ITSM_AMQP_URLS names unknown service \"billing\"; known: identity, incident, \
                 catalogue, change, analytics"
                    .into()
            )
        );
        let missing = with(None, &[("identity", "amqp://itsm-identity:a@mq/%2f")]);
        assert_eq!(
            urls(&missing, None),
            Err("no RabbitMQ URL for incident: set it in ITSM_AMQP_URLS".into())
        );
    }
}

#[cfg(test)]
mod chart {
    use super::SERVICES;

    /// The keys of the chart's top-level `services:` map (two-space indented names).
    fn chart_services() -> Vec<String> {
        let values = include_str!("../../../charts/itsm/values.yaml");
        values
            .lines()
            .skip_while(|l| *l != "services:")
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
            .filter(|k| !k.starts_with([' ', '#']))
            .map(str::to_string)
            .collect()
    }

    /// Each service's ingress paths in the chart's `services:` map.
    fn chart_paths() -> Vec<(String, String)> {
        let values = include_str!("../../../charts/itsm/values.yaml");
        let mut service = String::new();
        let mut paths = Vec::new();
        for line in values
            .lines()
            .skip_while(|l| *l != "services:")
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        {
            if let Some(key) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
                if !key.starts_with([' ', '#']) {
                    service = key.to_string();
                }
            } else if let Some(path) = line.trim().strip_prefix("- path: ") {
                paths.push((service.clone(), path.to_string()));
            }
        }
        paths
    }

    /// An Ingress sends a request to the service with the longest matching path prefix (by
    /// whole segments): every route a service documents must reach that service.
    #[test]
    fn the_chart_routes_every_documented_path_to_its_service() {
        let paths = chart_paths();
        let mut misrouted = Vec::new();
        for &service in SERVICES {
            let register: platform::http::Register =
                std::sync::Arc::new(move |cfg| service.api(cfg));
            let doc = platform::http::openapi_of(service.title(), &register);
            for route in doc.paths.paths.keys() {
                let owner = paths
                    .iter()
                    .filter(|(_, prefix)| {
                        route == prefix
                            || route
                                .strip_prefix(prefix.as_str())
                                .is_some_and(|rest| rest.starts_with('/'))
                    })
                    .max_by_key(|(_, prefix)| prefix.len())
                    .map(|(owner, _)| owner.as_str());
                if owner != Some(service.name()) {
                    misrouted.push(format!("{route} ({} → {owner:?})", service.name()));
                }
            }
        }
        assert!(
            misrouted.is_empty(),
            "charts/itsm/values.yaml routes these elsewhere: {misrouted:#?}"
        );
    }

    #[test]
    fn the_chart_deploys_every_service_of_the_list() {
        let listed: Vec<String> = SERVICES.iter().map(|s| s.name().to_string()).collect();
        assert_eq!(
            chart_services(),
            listed,
            "charts/itsm/values.yaml `services:` must have one entry per suite::SERVICES, in order"
        );
    }
}
