//! Incidents the platform opens itself when analytics forecasts that a capacity threshold is
//! breached or about to be (`capacity.breach_predicted`): what such an incident says and whom
//! it is recorded as coming from. No I/O: the consumer (`crate::capacity`) decides whether to
//! open one and looks up what the forecast's target is.
use chrono::SecondsFormat;
use events::analytics::CapacityBreachPredicted;
use uuid::Uuid;

use super::{
    incident::{Channel, NewIncident},
    priority::Level,
};

/// The `created_by` of an incident no person or API client opened. The nil id is no user's,
/// group's or client's (identity's ids are UUIDv7), so it never matches a principal; such an
/// incident has no caller either.
pub const RAISED_BY_PLATFORM: Uuid = Uuid::nil();

/// The category of every incident opened from a capacity forecast.
pub const CATEGORY: &str = "capacity";

/// The `status` of a forecast whose threshold is already crossed (else it is predicted to be).
const BREACHED: &str = "breached";

/// The longest piece of forecast text (a metric's or target's name) an incident repeats, so a
/// title stays within its 200 characters whatever the forecast carries.
const PIECE_MAX: usize = 80;
const TITLE_MAX: usize = 200;

/// The forecast's target as incident knows it: its name, when a projection has it, and the
/// references the new incident may carry (a CI or service the tenant may name on an incident).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    pub name: Option<String>,
    pub service_id: Option<Uuid>,
    pub configuration_item_id: Option<Uuid>,
}

/// The incident to open for `forecast`: category `capacity`, impact and urgency in the middle
/// of the scale (priority 3, Moderate, by the matrix) until an agent triages it, unassigned
/// and without a caller.
pub fn new_incident(forecast: &CapacityBreachPredicted, target: Target) -> NewIncident {
    let title = title(forecast, target.name.as_deref());
    let description = description(forecast, target.name.as_deref());
    NewIncident {
        title,
        description,
        impact: Level::MEDIUM,
        urgency: Level::MEDIUM,
        priority_override: None,
        caller_id: None,
        assignment_group_id: None,
        assignee_id: None,
        category: Some(CATEGORY.to_string()),
        subcategory: None,
        service_id: target.service_id,
        configuration_item_id: target.configuration_item_id,
        parent_id: None,
        major: false,
        channel: Some(Channel::Monitoring),
    }
}

/// `Capacity: disk_used_percent on web-01 predicted to cross 90 above` (or `has crossed` once
/// breached).
pub fn title(forecast: &CapacityBreachPredicted, target_name: Option<&str>) -> String {
    let verb = if forecast.status == BREACHED {
        "has crossed"
    } else {
        "predicted to cross"
    };
    let title = format!(
        "Capacity: {} on {} {verb} {} {}",
        piece(&forecast.metric),
        target_label(forecast, target_name),
        number(forecast.limit),
        piece(&forecast.direction),
    );
    title
        .chars()
        .take(TITLE_MAX)
        .collect::<String>()
        .trim()
        .to_string()
}

/// What the forecast found, one fact a line, for whoever picks the incident up.
pub fn description(forecast: &CapacityBreachPredicted, target_name: Option<&str>) -> String {
    let finding = if forecast.status == BREACHED {
        "has crossed its threshold"
    } else {
        "is forecast to cross its threshold"
    };
    let breach_at = forecast.breach_at.map_or_else(
        || "not forecast (no trend towards the limit)".to_string(),
        |at| at.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    [
        format!(
            "{} on {} {finding}.",
            piece(&forecast.metric),
            target_label(forecast, target_name)
        ),
        String::new(),
        format!("Limit: {}", number(forecast.limit)),
        format!("Direction: {}", piece(&forecast.direction)),
        format!("Slope per day: {}", number(forecast.slope_per_day)),
        format!("Breach at: {breach_at}"),
        format!("Last value: {}", number(forecast.last_value)),
        format!(
            "Target: {} {}",
            piece(&forecast.target_type),
            forecast.target_id
        ),
        format!("Threshold: {}", forecast.threshold_id),
    ]
    .join("\n")
}

/// The target's name, or its kind and id when incident does not know it.
fn target_label(forecast: &CapacityBreachPredicted, target_name: Option<&str>) -> String {
    target_name
        .map(piece)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("{} {}", piece(&forecast.target_type), forecast.target_id))
}

/// Forecast text fit to repeat in a title: control characters as spaces, trimmed, at most
/// [`PIECE_MAX`] characters.
fn piece(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.trim().chars().take(PIECE_MAX).collect::<String>()
}

/// `x` to two decimals at most, without trailing zeros: `90`, `1.25`, `-0.5`.
fn number(x: f64) -> String {
    let fixed = format!("{x:.2}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    match trimmed {
        "-0" => "0".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn forecast(status: &str) -> CapacityBreachPredicted {
        CapacityBreachPredicted {
            threshold_id: Uuid::from_u128(1),
            target_type: "ci".into(),
            target_id: Uuid::from_u128(2),
            metric: "disk_used_percent".into(),
            limit: 90.0,
            direction: "above".into(),
            status: status.into(),
            breach_at: Utc.with_ymd_and_hms(2026, 12, 1, 6, 30, 0).single(),
            slope_per_day: 1.254_9,
            last_value: 82.5,
        }
    }

    #[test]
    fn a_predicted_breach_names_metric_target_limit_and_direction() {
        assert_eq!(
            title(&forecast("breach_predicted"), Some("web-01")),
            "Capacity: disk_used_percent on web-01 predicted to cross 90 above"
        );
    }

    #[test]
    fn a_breached_threshold_has_crossed() {
        assert_eq!(
            title(&forecast("breached"), Some("web-01")),
            "Capacity: disk_used_percent on web-01 has crossed 90 above"
        );
    }

    #[test]
    fn an_unknown_target_is_named_by_kind_and_id() {
        assert_eq!(
            title(&forecast("breach_predicted"), None),
            "Capacity: disk_used_percent on ci 00000000-0000-0000-0000-000000000002 \
             predicted to cross 90 above"
        );
    }

    #[test]
    fn the_description_states_every_figure_of_the_forecast() {
        let text = description(&forecast("breach_predicted"), Some("web-01"));
        for line in [
            "disk_used_percent on web-01 is forecast to cross its threshold.",
            "Limit: 90",
            "Direction: above",
            "Slope per day: 1.25",
            "Breach at: 2026-12-01T06:30:00Z",
            "Last value: 82.5",
            "Threshold: 00000000-0000-0000-0000-000000000001",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in {text}");
        }
        let mut breached = forecast("breached");
        breached.breach_at = None;
        let text = description(&breached, None);
        assert!(text.contains("has crossed its threshold"), "{text}");
        assert!(text.contains("Breach at: not forecast"), "{text}");
    }

    #[test]
    fn odd_forecast_text_still_makes_a_valid_title() {
        let mut odd = forecast("breach_predicted");
        odd.metric = format!("disk\n{}", "x".repeat(500));
        let made = title(&odd, Some("\u{7}"));
        assert!(
            platform::validate::text("/title", &made, TITLE_MAX).is_ok(),
            "{made}"
        );
        assert!(!made.contains('\n'));
        assert!(made.contains(" on ci 00000000-0000-0000-0000-000000000002 "));
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        for (x, shown) in [
            (90.0, "90"),
            (100.0, "100"),
            (1.254_9, "1.25"),
            (-0.5, "-0.5"),
            (-0.001, "0"),
            (0.1, "0.1"),
        ] {
            assert_eq!(number(x), shown);
        }
    }

    #[test]
    fn a_forecast_opens_a_moderate_unassigned_capacity_incident() {
        let target = Target {
            name: Some("web-01".into()),
            service_id: None,
            configuration_item_id: Some(Uuid::from_u128(2)),
        };
        let new = new_incident(&forecast("breach_predicted"), target);
        assert_eq!(new.category.as_deref(), Some(CATEGORY));
        assert_eq!(new.matrix_priority().get(), 3);
        assert_eq!(new.priority().get(), 3);
        assert_eq!(new.configuration_item_id, Some(Uuid::from_u128(2)));
        assert_eq!(
            (new.caller_id, new.assignment_group_id, new.assignee_id),
            (None, None, None)
        );
        assert!(!new.major);
    }
}
