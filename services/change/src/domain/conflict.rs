//! Conflicts of a planned change, from what the store found around it: other changes on the
//! same or related CIs (undirected distance ≤ 2 in the tenant's CMDB) or with the same
//! assignee at overlapping times, blackouts over its window, and a window outside every
//! maintenance window that applies. Windows are half-open: back to back is no conflict.
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    change::Window,
    window::{Schedule, WindowKind},
};

/// How far apart (relationships, either direction) two changes' CIs may be and still conflict.
pub const RELATED_DEPTH: u32 = 2;

/// `same_ci`, `related_ci`, `blackout`, `outside_maintenance_window` or
/// `assignee_double_booked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    SameCi,
    RelatedCi,
    Blackout,
    OutsideMaintenanceWindow,
    AssigneeDoubleBooked,
}

/// One conflict; the fields that do not apply to its kind are null.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct Conflict {
    pub kind: ConflictKind,
    /// The planned change's CI involved.
    pub ci_id: Option<Uuid>,
    /// Relationships between the two changes' CIs (0 for the same CI).
    pub depth: Option<u32>,
    pub other_change_id: Option<Uuid>,
    pub window_id: Option<Uuid>,
    pub overlap_start: Option<chrono::DateTime<chrono::Utc>>,
    pub overlap_end: Option<chrono::DateTime<chrono::Utc>>,
}

/// The change being checked.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: Option<Uuid>,
    pub window: Window,
    pub cis: Vec<Uuid>,
    pub assignee: Option<Uuid>,
}

/// Another change of the tenant, with a window, not closed or canceled.
#[derive(Debug, Clone)]
pub struct Other {
    pub id: Uuid,
    pub window: Window,
    pub cis: Vec<Uuid>,
    pub assignee: Option<Uuid>,
}

/// A window that applies to the tenant (its own or inherited).
#[derive(Debug, Clone)]
pub struct ChangeWindow {
    pub id: Uuid,
    pub kind: WindowKind,
    pub schedule: Schedule,
    /// Empty: every CI.
    pub cis: Vec<Uuid>,
}

impl ChangeWindow {
    fn covers_any(&self, cis: &[Uuid]) -> bool {
        self.cis.is_empty() || self.cis.iter().any(|c| cis.contains(c))
    }
}

fn overlap(a: Window, b: Window) -> Window {
    Window {
        start: a.start.max(b.start),
        end: a.end.min(b.end),
    }
}

/// Every conflict of `planned`. `near` maps each CI within [`RELATED_DEPTH`] of one of its
/// CIs to the planned CI it is nearest and the distance (its own CIs at 0).
pub fn conflicts(
    planned: &Planned,
    near: &HashMap<Uuid, (Uuid, u32)>,
    others: &[Other],
    windows: &[ChangeWindow],
) -> Vec<Conflict> {
    let w = planned.window;
    let mut out = Vec::new();
    for o in others {
        if Some(o.id) == planned.id || !o.window.overlaps(&w) {
            continue;
        }
        let shared = overlap(w, o.window);
        // The nearest pair of CIs decides the kind; one conflict per other change and kind.
        let nearest = o
            .cis
            .iter()
            .filter_map(|ci| near.get(ci).map(|(mine, depth)| (*depth, *mine)))
            .min();
        if let Some((depth, mine)) = nearest {
            out.push(Conflict {
                kind: if depth == 0 {
                    ConflictKind::SameCi
                } else {
                    ConflictKind::RelatedCi
                },
                ci_id: Some(mine),
                depth: Some(depth),
                other_change_id: Some(o.id),
                window_id: None,
                overlap_start: Some(shared.start),
                overlap_end: Some(shared.end),
            });
        }
        if planned.assignee.is_some() && planned.assignee == o.assignee {
            out.push(Conflict {
                kind: ConflictKind::AssigneeDoubleBooked,
                ci_id: None,
                depth: None,
                other_change_id: Some(o.id),
                window_id: None,
                overlap_start: Some(shared.start),
                overlap_end: Some(shared.end),
            });
        }
    }
    if outside_maintenance(w, &planned.cis, windows) {
        out.push(Conflict {
            kind: ConflictKind::OutsideMaintenanceWindow,
            ci_id: None,
            depth: None,
            other_change_id: None,
            window_id: None,
            overlap_start: None,
            overlap_end: None,
        });
    }
    for x in windows.iter().filter(|x| x.kind == WindowKind::Blackout) {
        if !x.covers_any(&planned.cis) {
            continue;
        }
        for occurrence in x.schedule.occurrences(w) {
            let shared = overlap(w, occurrence);
            out.push(Conflict {
                kind: ConflictKind::Blackout,
                ci_id: x.cis.iter().find(|c| planned.cis.contains(c)).copied(),
                depth: None,
                other_change_id: None,
                window_id: Some(x.id),
                overlap_start: Some(shared.start),
                overlap_end: Some(shared.end),
            });
        }
    }
    out.sort();
    out
}

/// Whether maintenance windows apply to `cis` and `w` lies within none of them.
pub fn outside_maintenance(w: Window, cis: &[Uuid], windows: &[ChangeWindow]) -> bool {
    let mut maintenance = windows
        .iter()
        .filter(|x| x.kind == WindowKind::Maintenance && x.covers_any(cis))
        .peekable();
    maintenance.peek().is_some() && !maintenance.any(|x| x.schedule.contains(w))
}

/// What free slots are wanted for: work of `duration` on `cis`, from `after` to `horizon`
/// later, `count` of them.
#[derive(Debug, Clone, Copy)]
pub struct SlotRequest<'a> {
    pub cis: &'a [Uuid],
    pub after: DateTime<Utc>,
    pub duration: Duration,
    pub horizon: Duration,
    pub count: usize,
}

/// The first `count` windows of `duration` from `after` (within `horizon`) with no conflict
/// besides double-booked assignees: each candidate that conflicts moves past what it
/// conflicts with (the overlap's end, or the next maintenance window that applies).
pub fn free_slots(
    want: &SlotRequest,
    near: &HashMap<Uuid, (Uuid, u32)>,
    others: &[Other],
    windows: &[ChangeWindow],
) -> Vec<Window> {
    let SlotRequest {
        cis: planned_cis,
        after,
        duration,
        horizon,
        count,
    } = *want;
    let limit = after + horizon;
    let mut slots = Vec::new();
    let mut start = after;
    for _ in 0..1_000 {
        if slots.len() >= count || start + duration > limit {
            break;
        }
        let planned = Planned {
            id: None,
            window: Window {
                start,
                end: start + duration,
            },
            cis: planned_cis.to_vec(),
            assignee: None,
        };
        let found = conflicts(&planned, near, others, windows);
        if found.is_empty() {
            slots.push(planned.window);
            start = planned.window.end;
            continue;
        }
        let mut next = start + Duration::minutes(1);
        for c in &found {
            if let Some(end) = c.overlap_end {
                next = next.max(end);
            }
            if c.kind == ConflictKind::OutsideMaintenanceWindow {
                let ahead = Window { start, end: limit };
                let opening = windows
                    .iter()
                    .filter(|x| x.kind == WindowKind::Maintenance && x.covers_any(planned_cis))
                    .flat_map(|x| x.schedule.occurrences(ahead))
                    .map(|o| o.start)
                    .filter(|s| *s > start)
                    .min();
                match opening {
                    Some(s) => next = next.max(s),
                    None => return slots,
                }
            }
        }
        start = next;
    }
    slots
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::window::RRule;

    fn t(h: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2027-01-09T{h:02}:00:00Z"))
            .expect("time")
            .with_timezone(&Utc)
    }

    fn win(a: u32, b: u32) -> Window {
        Window {
            start: t(a),
            end: t(b),
        }
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn same_and_related_cis_back_to_back_and_assignees() {
        let planned = Planned {
            id: Some(id(1)),
            window: win(10, 12),
            cis: vec![id(100)],
            assignee: Some(id(7)),
        };
        let near = HashMap::from([(id(100), (id(100), 0)), (id(101), (id(100), 2))]);
        let others = [
            Other {
                id: id(2),
                window: win(11, 13),
                cis: vec![id(100)],
                assignee: None,
            },
            Other {
                id: id(3),
                window: win(9, 11),
                cis: vec![id(101)],
                assignee: Some(id(7)),
            },
            // Back to back: no conflict.
            Other {
                id: id(4),
                window: win(12, 14),
                cis: vec![id(100)],
                assignee: Some(id(7)),
            },
            // Three relationships away: not in `near`.
            Other {
                id: id(5),
                window: win(10, 12),
                cis: vec![id(102)],
                assignee: None,
            },
        ];
        let found = conflicts(&planned, &near, &others, &[]);
        let kinds: Vec<(ConflictKind, Option<Uuid>)> =
            found.iter().map(|c| (c.kind, c.other_change_id)).collect();
        assert_eq!(
            kinds,
            [
                (ConflictKind::SameCi, Some(id(2))),
                (ConflictKind::RelatedCi, Some(id(3))),
                (ConflictKind::AssigneeDoubleBooked, Some(id(3))),
            ]
        );
        assert_eq!(found[1].depth, Some(2));
        assert_eq!(
            (found[0].overlap_start, found[0].overlap_end),
            (Some(t(11)), Some(t(12)))
        );
    }

    #[test]
    fn blackouts_and_maintenance_windows() {
        let planned = Planned {
            id: None,
            window: win(10, 12),
            cis: vec![id(100)],
            assignee: None,
        };
        let once = |kind, a, b, cis: Vec<Uuid>| ChangeWindow {
            id: id(50 + a as u128),
            kind,
            schedule: Schedule {
                first: win(a, b),
                zone: chrono_tz::UTC,
                rule: None,
            },
            cis,
        };
        // A blackout on another CI does not apply; one on every CI does.
        let found = conflicts(
            &planned,
            &HashMap::new(),
            &[],
            &[
                once(WindowKind::Blackout, 11, 15, vec![id(999)]),
                once(WindowKind::Blackout, 8, 11, vec![]),
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].kind, found[0].overlap_end),
            (ConflictKind::Blackout, Some(t(11)))
        );
        // Inside a maintenance window: fine; partly outside: a conflict; none applies: fine.
        let inside = conflicts(
            &planned,
            &HashMap::new(),
            &[],
            &[once(WindowKind::Maintenance, 9, 13, vec![])],
        );
        assert!(inside.is_empty());
        let partly = conflicts(
            &planned,
            &HashMap::new(),
            &[],
            &[once(WindowKind::Maintenance, 11, 13, vec![])],
        );
        assert_eq!(partly[0].kind, ConflictKind::OutsideMaintenanceWindow);
        let elsewhere = conflicts(
            &planned,
            &HashMap::new(),
            &[],
            &[once(WindowKind::Maintenance, 11, 13, vec![id(5)])],
        );
        assert!(elsewhere.is_empty());
        // A weekly blackout's occurrence in the change's window.
        let weekly = ChangeWindow {
            id: id(60),
            kind: WindowKind::Blackout,
            schedule: Schedule {
                first: Window {
                    start: t(11) - chrono::Duration::days(7),
                    end: t(12) - chrono::Duration::days(7),
                },
                zone: chrono_tz::UTC,
                rule: Some(RRule::parse("FREQ=WEEKLY").expect("rule")),
            },
            cis: vec![],
        };
        let found = conflicts(&planned, &HashMap::new(), &[], &[weekly]);
        assert_eq!(
            (found[0].overlap_start, found[0].overlap_end),
            (Some(t(11)), Some(t(12)))
        );
    }
}
