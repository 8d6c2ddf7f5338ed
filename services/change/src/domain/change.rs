//! A change as requested, checked field by field: its window, its CIs, its plans.
use chrono::{DateTime, Utc};
use platform::{
    FieldError,
    validate::{Validator, multiline, text},
};
use uuid::Uuid;

use super::lifecycle::{ChangeType, Readiness};

/// The most CIs one change may name.
pub const MAX_CIS: usize = 500;
/// The longest plan or description, in characters.
const LONG_TEXT: usize = 20_000;

/// A planned window, start before end (half-open: a change ending at 10:00 and one starting
/// at 10:00 do not overlap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// `start` and `end` given together, end after start; `None` when neither is given.
    pub fn parse(
        v: &mut Validator,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Option<Option<Window>> {
        match (start, end) {
            (None, None) => Some(None),
            (Some(start), Some(end)) if end > start => Some(Some(Window { start, end })),
            (Some(_), Some(_)) => {
                v.push(FieldError::new(
                    "/planned_end",
                    "before_start",
                    "planned_end must be after planned_start",
                ));
                None
            }
            (Some(_), None) => {
                v.push(FieldError::new(
                    "/planned_end",
                    "required",
                    "give planned_end with planned_start",
                ));
                None
            }
            (None, Some(_)) => {
                v.push(FieldError::new(
                    "/planned_start",
                    "required",
                    "give planned_start with planned_end",
                ));
                None
            }
        }
    }

    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The CIs a change names: each once, at most [`MAX_CIS`].
pub fn ci_ids(v: &mut Validator, ids: Vec<Uuid>) -> Option<Vec<Uuid>> {
    if ids.len() > MAX_CIS {
        v.push(FieldError::new(
            "/affected_ci_ids",
            "too_many",
            format!("at most {MAX_CIS} CIs per change"),
        ));
        return None;
    }
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    Some(unique)
}

/// The three plans and the description: multi-line text, possibly empty until the change
/// leaves `new`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plans {
    pub implementation_plan: String,
    pub backout_plan: String,
    pub test_plan: String,
}

pub fn long_text(v: &mut Validator, pointer: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(String::new());
    }
    v.check(multiline(pointer, value, LONG_TEXT))
}

pub fn title(v: &mut Validator, value: &str) -> Option<String> {
    v.check(text("/title", value, 200))
}

/// A new change, every field checked.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub change_type: ChangeType,
    pub title: String,
    pub description: String,
    pub window: Option<Window>,
    pub plans: Plans,
    pub assignee_id: Option<Uuid>,
    pub ci_ids: Vec<Uuid>,
}

/// What leaving `new` needs, as a change has it.
pub fn readiness(window: Option<Window>, ci_count: usize, plans: &Plans) -> Readiness {
    let present = |s: &str| !s.trim().is_empty();
    Readiness {
        has_window: window.is_some(),
        ci_count,
        implementation_plan: present(&plans.implementation_plan),
        backout_plan: present(&plans.backout_plan),
        test_plan: present(&plans.test_plan),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 12, h, 0, 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn a_window_ends_after_it_starts_and_back_to_back_windows_do_not_overlap() {
        let mut v = Validator::new();
        assert_eq!(Window::parse(&mut v, Some(at(10)), Some(at(10))), None);
        assert_eq!(Window::parse(&mut v, Some(at(10)), None), None);
        let errors = v.finish_with(Some(())).expect_err("two errors");
        assert_eq!(errors[0].pointer, "/planned_end");
        let a = Window {
            start: at(8),
            end: at(10),
        };
        let b = Window {
            start: at(10),
            end: at(12),
        };
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.overlaps(&Window {
            start: at(9),
            end: at(11)
        }));
    }

    #[test]
    fn cis_are_named_once() {
        let mut v = Validator::new();
        let id = Uuid::now_v7();
        assert_eq!(ci_ids(&mut v, vec![id, id]), Some(vec![id]));
        assert_eq!(ci_ids(&mut v, vec![id; MAX_CIS + 1]), None);
    }
}
