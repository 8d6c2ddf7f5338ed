//! iCalendar (RFC 5545) text for the change calendar: CRLF line ends, content lines folded
//! at 75 octets (never inside a UTF-8 character), text values escaped, times in UTC.
//!
//! Pure: the events are passed in, the text comes out.
use chrono::{DateTime, Utc};

/// The longest a content line may be, in octets, before it is folded (RFC 5545 §3.1).
const FOLD_AT: usize = 75;

/// `STATUS` of a VEVENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Tentative,
    Confirmed,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Tentative => "TENTATIVE",
            Status::Confirmed => "CONFIRMED",
            Status::Cancelled => "CANCELLED",
        }
    }
}

/// One VEVENT.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub uid: String,
    /// When the event's information last changed.
    pub stamp: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub status: Status,
    /// How often it was rescheduled: calendar clients replace an event of a lower sequence.
    pub sequence: i32,
    pub categories: &'static str,
}

/// A calendar named `name` holding `events`.
pub fn calendar(name: &str, events: &[Event]) -> String {
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&fold(&l));
        out.push_str("\r\n");
    };
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line("PRODID:-//ITSM//Change calendar//EN".into());
    line("CALSCALE:GREGORIAN".into());
    line("METHOD:PUBLISH".into());
    line(format!("X-WR-CALNAME:{}", escape(name)));
    for e in events {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}", escape(&e.uid)));
        line(format!("DTSTAMP:{}", utc(e.stamp)));
        line(format!("DTSTART:{}", utc(e.start)));
        line(format!("DTEND:{}", utc(e.end)));
        line(format!("SUMMARY:{}", escape(&e.summary)));
        line(format!("STATUS:{}", e.status.as_str()));
        line(format!("SEQUENCE:{}", e.sequence.max(0)));
        line(format!("CATEGORIES:{}", e.categories));
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

/// `20261207T093000Z`.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines escaped; other
/// control characters dropped (they are not allowed in a content line).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `line` folded: at most 75 octets per physical line, continuations starting with a space
/// (which counts), split only between characters. Lines are joined by CRLF, with no CRLF at
/// the end.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / FOLD_AT * 3);
    let mut used = 0;
    for c in line.chars() {
        let width = c.len_utf8();
        if used + width > FOLD_AT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += width;
    }
    out
}

/// `line` unfolded again (for tests and for readers of the feed).
pub fn unfold(text: &str) -> String {
    text.replace("\r\n ", "")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let title = "Wartung ✓ Datenbank-Cluster äöü 数据库维护 — ".repeat(6);
        let line = format!("SUMMARY:{}", escape(&title));
        let folded = fold(&line);
        for physical in folded.split("\r\n") {
            assert!(physical.len() <= FOLD_AT, "{} octets", physical.len());
        }
        assert!(folded.split("\r\n").skip(1).all(|l| l.starts_with(' ')));
        assert_eq!(unfold(&folded), line);
        assert_eq!(fold("short"), "short");
    }

    #[test]
    fn text_is_escaped_and_the_calendar_uses_crlf() {
        assert_eq!(escape("a;b,c\\d\ne\r"), "a\\;b\\,c\\\\d\\ne");
        let t = Utc
            .with_ymd_and_hms(2026, 12, 12, 20, 0, 0)
            .single()
            .unwrap_or_default();
        let text = calendar(
            "Changes",
            &[Event {
                uid: "u1".into(),
                stamp: t,
                start: t,
                end: t + chrono::Duration::hours(2),
                summary: "CHG0001001 Patch db-01".into(),
                status: Status::Confirmed,
                sequence: 2,
                categories: "CHANGE",
            }],
        );
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
        assert!(text.contains("\r\nDTSTART:20261212T200000Z\r\n"));
        assert!(text.contains("\r\nSEQUENCE:2\r\n"));
    }
}
