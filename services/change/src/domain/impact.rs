//! A change's impact from an upstream walk of the CMDB: each CI once at its shortest depth,
//! and for each the path that reaches it from one of the change's CIs.
use std::collections::BTreeMap;

use uuid::Uuid;

/// One step of a walk: `ci` at `depth`, reached from `from` (`None` for a root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub ci: Uuid,
    pub depth: u32,
    pub from: Option<Uuid>,
}

/// A reached CI and the CIs from a root to it, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub ci: Uuid,
    pub depth: u32,
    pub path: Vec<Uuid>,
}

/// One [`Reach`] per CI, nearest first (then by id), each path through the lowest id where
/// several CIs one step nearer lead to it.
pub fn paths(steps: &[Step]) -> Vec<Reach> {
    let mut best: BTreeMap<Uuid, &Step> = BTreeMap::new();
    for s in steps {
        let better = best
            .get(&s.ci)
            .is_none_or(|b| (s.depth, s.from) < (b.depth, b.from));
        if better {
            best.insert(s.ci, s);
        }
    }
    let mut out: Vec<Reach> = best
        .values()
        .map(|s| {
            let mut path = vec![s.ci];
            let mut at = *s;
            // Depth falls by one per step, so this ends within `depth` steps.
            while let Some(prev) = at.from.and_then(|f| best.get(&f)) {
                if prev.depth >= at.depth {
                    break;
                }
                path.push(prev.ci);
                at = prev;
            }
            path.reverse();
            Reach {
                ci: s.ci,
                depth: s.depth,
                path,
            }
        })
        .collect();
    out.sort_by_key(|r| (r.depth, r.ci));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ci_once_with_a_path_from_a_root() {
        let [a, b, c, d] = [1u128, 2, 3, 4].map(Uuid::from_u128);
        let steps = [
            Step {
                ci: a,
                depth: 0,
                from: None,
            },
            Step {
                ci: b,
                depth: 1,
                from: Some(a),
            },
            Step {
                ci: c,
                depth: 1,
                from: Some(a),
            },
            Step {
                ci: d,
                depth: 2,
                from: Some(c),
            },
            Step {
                ci: d,
                depth: 2,
                from: Some(b),
            },
        ];
        let reached = paths(&steps);
        assert_eq!(reached.len(), 4);
        let last = &reached[3];
        assert_eq!((last.ci, last.depth), (d, 2));
        assert_eq!(last.path, vec![a, b, d]);
    }
}
