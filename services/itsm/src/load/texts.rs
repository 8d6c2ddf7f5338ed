//! The words of load-test incidents: kinds of incident with title templates and symptoms,
//! and the applications, sites and teams the templates are filled with.
use super::rng::Rng;

/// An incident class: category, subcategory and title templates (`{app}`, `{site}`, …).
pub(super) struct Kind {
    pub(super) category: &'static str,
    pub(super) subcategory: &'static str,
    pub(super) titles: &'static [&'static str],
    pub(super) symptom: &'static str,
}

pub(super) const KINDS: &[Kind] = &[
    Kind {
        category: "network",
        subcategory: "vpn",
        titles: &[
            "VPN disconnects every few minutes",
            "Cannot connect to the VPN from home",
            "VPN connected but {app} unreachable",
        ],
        symptom: "the VPN client drops the tunnel or connects without reaching internal services",
    },
    Kind {
        category: "network",
        subcategory: "wifi",
        titles: &[
            "Wi-Fi very slow on floor {floor} at {site}",
            "Guest Wi-Fi not working at {site}",
            "Laptop keeps losing Wi-Fi in meeting room {room}",
        ],
        symptom: "wireless clients lose their connection or get very low throughput",
    },
    Kind {
        category: "email",
        subcategory: "outlook",
        titles: &[
            "Outlook keeps asking for my password",
            "Emails stuck in the outbox",
            "Shared mailbox {team} not visible in Outlook",
            "Calendar invites from external partners not arriving",
        ],
        symptom: "mail does not send or receive, or the client keeps prompting for credentials",
    },
    Kind {
        category: "access",
        subcategory: "account",
        titles: &[
            "Account locked out after password change",
            "New starter in {team} needs access to {app}",
            "MFA prompt not arriving on my phone",
            "Cannot reset my password through self-service",
        ],
        symptom: "the user cannot sign in or lacks the permissions needed for their work",
    },
    Kind {
        category: "hardware",
        subcategory: "laptop",
        titles: &[
            "Laptop does not start after Windows update",
            "Laptop battery drains within an hour",
            "Docking station at desk {desk} not detecting monitors",
            "Keyboard on laptop {asset} has failed keys",
        ],
        symptom: "the device fails to boot, overheats or its peripherals stop working",
    },
    Kind {
        category: "hardware",
        subcategory: "printer",
        titles: &[
            "Printer {printer} shows paper jam but is empty",
            "Cannot print to {printer} from {app}",
            "Printer {printer} prints blank pages",
        ],
        symptom: "jobs are queued but nothing prints, or the output is unusable",
    },
    Kind {
        category: "software",
        subcategory: "application",
        titles: &[
            "{app} crashes when exporting a report",
            "{app} very slow since this morning",
            "Error 500 when saving a record in {app}",
            "{app} license expired for the {team} team",
        ],
        symptom: "the application fails, hangs or returns errors during normal use",
    },
    Kind {
        category: "software",
        subcategory: "install",
        titles: &[
            "Please install {app} on laptop {asset}",
            "{app} update fails with error 1603",
        ],
        symptom: "installation or update of the software does not complete",
    },
    Kind {
        category: "infrastructure",
        subcategory: "server",
        titles: &[
            "File share \\\\{site}-fs01 not reachable",
            "Disk almost full on server {site}-app02",
            "Nightly backup job failed on {site}-db01",
        ],
        symptom: "a server or a service it hosts is degraded or unavailable",
    },
    Kind {
        category: "telephony",
        subcategory: "softphone",
        titles: &[
            "Softphone has no audio on calls",
            "Call center queue for {team} not ringing",
        ],
        symptom: "calls connect without audio or do not reach the agents",
    },
    Kind {
        category: "security",
        subcategory: "phishing",
        titles: &[
            "Suspicious email asking to confirm payroll details",
            "Clicked a link in a phishing email",
        ],
        symptom: "a possible phishing attempt that needs checking and containment",
    },
];

const APPS: &[&str] = &[
    "SAP",
    "Salesforce",
    "Teams",
    "SharePoint",
    "Workday",
    "Jira",
    "Power BI",
    "Citrix",
    "the ERP",
    "the CRM",
    "the intranet",
    "Zoom",
    "Adobe Acrobat",
    "Excel",
];
const SITES: &[&str] = &[
    "ldn", "par", "fra", "nyc", "sfo", "sgp", "syd", "ams", "mad", "tor",
];
pub(super) const TEAMS: &[&str] = &[
    "Finance",
    "HR",
    "Sales",
    "Marketing",
    "Legal",
    "Operations",
    "Procurement",
    "Support",
    "Engineering",
    "Facilities",
];
pub(super) const CHANNELS: &[&str] = &[
    "Reported through the portal.",
    "Reported by phone to the service desk.",
    "Reported by email.",
    "Raised from a monitoring alert.",
    "Reported via chat.",
];
pub(super) const SINCE: &[&str] = &[
    "since this morning",
    "since yesterday afternoon",
    "after the latest update",
    "intermittently for a few days",
    "since moving to a new desk",
    "since the weekend",
];
pub(super) const RESOLUTIONS: &[(&str, &str)] = &[
    (
        "fixed",
        "Root cause identified and fixed; the user confirmed it works again.",
    ),
    (
        "workaround",
        "Workaround provided; a permanent fix is tracked separately.",
    ),
    (
        "configuration_change",
        "Corrected the configuration and verified with the user.",
    ),
    (
        "replaced_hardware",
        "Replaced the faulty part; the device works normally.",
    ),
    (
        "user_education",
        "Explained the correct procedure to the user; no fault found.",
    ),
    (
        "not_reproducible",
        "Could not reproduce the issue; closed after follow-up with the user.",
    ),
    (
        "duplicate",
        "Duplicate of an incident already being worked on.",
    ),
];

pub(super) fn fill(template: &str, rng: &mut Rng) -> String {
    let mut s = template.to_string();
    for slot in [
        "{app}",
        "{site}",
        "{team}",
        "{floor}",
        "{room}",
        "{desk}",
        "{asset}",
        "{printer}",
    ] {
        if !s.contains(slot) {
            continue;
        }
        let value = match slot {
            "{app}" => rng.pick(APPS).to_string(),
            "{site}" => rng.pick(SITES).to_string(),
            "{team}" => rng.pick(TEAMS).to_string(),
            "{floor}" => (1 + rng.below(12)).to_string(),
            "{room}" => format!("{}.{:02}", 1 + rng.below(9), 1 + rng.below(30)),
            "{desk}" => format!("{}-{:03}", rng.pick(SITES), 1 + rng.below(400)),
            "{asset}" => format!("LT-{:05}", rng.below(100_000)),
            _ => format!("PRN-{}-{:02}", rng.pick(SITES), 1 + rng.below(40)),
        };
        s = s.replace(slot, &value);
    }
    s
}
