//! The CMDB's graph, free of I/O: relationship types and their inverse names, the rules that
//! say which classes may be related and how often, and impact (who is affected if a CI fails,
//! what it needs): each CI once, at its shortest depth, from the ways the database's walk
//! found.
use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

/// A relationship type, stored in its forward direction (`web-01 runs_on` nothing: `app
/// runs_on web-01`); each has an inverse name for reading and creating from the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelType {
    DependsOn,
    RunsOn,
    HostedOn,
    Uses,
    MemberOf,
    ConnectedTo,
}

impl RelType {
    pub const ALL: [RelType; 6] = [
        RelType::DependsOn,
        RelType::RunsOn,
        RelType::HostedOn,
        RelType::Uses,
        RelType::MemberOf,
        RelType::ConnectedTo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelType::DependsOn => "depends_on",
            RelType::RunsOn => "runs_on",
            RelType::HostedOn => "hosted_on",
            RelType::Uses => "uses",
            RelType::MemberOf => "member_of",
            RelType::ConnectedTo => "connected_to",
        }
    }

    /// The name read from the target's end (`connected_to` is symmetric).
    pub fn inverse(self) -> &'static str {
        match self {
            RelType::DependsOn => "dependency_of",
            RelType::RunsOn => "runs",
            RelType::HostedOn => "hosts",
            RelType::Uses => "used_by",
            RelType::MemberOf => "has_member",
            RelType::ConnectedTo => "connected_to",
        }
    }

    /// A type by either name: the type and whether the name was the inverse one (the ends
    /// are then swapped to store it forward).
    pub fn parse(name: &str) -> Option<(RelType, bool)> {
        Self::ALL.into_iter().find_map(|t| {
            if t.as_str() == name {
                Some((t, false))
            } else if t.inverse() == name {
                Some((t, true))
            } else {
                None
            }
        })
    }

    pub fn symmetric(self) -> bool {
        self == RelType::ConnectedTo
    }
}

/// Which classes may be related by a type, and how many times (`None`: no limit). A rule on a
/// class covers its subclasses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelRule {
    pub source_class: String,
    pub rel_type: RelType,
    pub target_class: String,
    /// How many targets one source may have by this type.
    pub max_targets: Option<u32>,
    /// How many sources one target may have by this type.
    pub max_sources: Option<u32>,
}

/// The rules every tenant starts with.
pub fn built_in_rules() -> Vec<RelRule> {
    let rule = |s: &str, t: RelType, d: &str, max_targets: Option<u32>| RelRule {
        source_class: s.into(),
        rel_type: t,
        target_class: d.into(),
        max_targets,
        max_sources: None,
    };
    vec![
        rule("business_service", RelType::DependsOn, "application", None),
        rule("application", RelType::DependsOn, "application", None),
        rule("application", RelType::DependsOn, "database", None),
        rule("application", RelType::Uses, "application", None),
        rule("application", RelType::Uses, "database", None),
        rule("application", RelType::RunsOn, "server", None),
        rule("database", RelType::RunsOn, "server", None),
        rule("server", RelType::HostedOn, "hypervisor", Some(1)),
        rule("server", RelType::MemberOf, "cluster", None),
        rule("server", RelType::ConnectedTo, "network_device", None),
        rule(
            "network_device",
            RelType::ConnectedTo,
            "network_device",
            None,
        ),
    ]
}

/// Whether a class at `path` (`server/linux_server`) is `class` or one of its subclasses.
pub fn is_a(path: &str, class: &str) -> bool {
    path.split('/').any(|segment| segment == class)
}

/// The rule allowing `source_path` `rel_type` `target_path`, if any (a symmetric type may be
/// written either way round). The most specific wins: the one whose classes sit deepest.
pub fn allowing<'a>(
    rules: &'a [RelRule],
    source_path: &str,
    rel_type: RelType,
    target_path: &str,
) -> Option<&'a RelRule> {
    let depth =
        |path: &str, class: &str| path.split('/').position(|s| s == class).unwrap_or_default();
    rules
        .iter()
        .filter(|r| r.rel_type == rel_type)
        .filter(|r| {
            (is_a(source_path, &r.source_class) && is_a(target_path, &r.target_class))
                || (rel_type.symmetric()
                    && is_a(target_path, &r.source_class)
                    && is_a(source_path, &r.target_class))
        })
        .max_by_key(|r| depth(source_path, &r.source_class) + depth(target_path, &r.target_class))
}

/// Whether adding `source hosted_on target` closes a loop, given where each CI is hosted now
/// (`hosted_on[ci]` = its hosts): walking up from `target` reaches `source`.
pub fn closes_cycle(hosted_on: &BTreeMap<Uuid, Vec<Uuid>>, source: Uuid, target: Uuid) -> bool {
    let mut seen = HashSet::new();
    let mut next = vec![target];
    while let Some(at) = next.pop() {
        if at == source {
            return true;
        }
        if seen.insert(at) {
            next.extend(hosted_on.get(&at).into_iter().flatten().copied());
        }
    }
    false
}

/// Which way impact walks: `upstream` (who is affected if the CI fails: those that depend on,
/// run on or are hosted on it) or `downstream` (what it needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            _ => None,
        }
    }
}

/// One way a walk reached a CI: at `depth`, by edge `via` (of `rel_type`) from `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub ci: Uuid,
    pub depth: u32,
    pub via: Uuid,
    pub rel_type: String,
    pub from: Uuid,
}

/// Each CI once, at its shortest depth (by the lowest edge id there), nearest first, at most
/// `max_nodes`, from `steps` walked one level deeper than `depth`: a CI first reached at that
/// extra level shows the depth cut something. `truncated` when either cut did.
pub fn nearest(steps: Vec<Step>, root: Uuid, depth: u32, max_nodes: usize) -> (Vec<Step>, bool) {
    let mut best: BTreeMap<Uuid, Step> = BTreeMap::new();
    for step in steps {
        if step.ci == root {
            continue;
        }
        let better = best
            .get(&step.ci)
            .is_none_or(|b| (step.depth, step.via) < (b.depth, b.via));
        if better {
            best.insert(step.ci, step);
        }
    }
    let mut within: Vec<Step> = best.into_values().collect();
    let before = within.len();
    within.retain(|s| s.depth <= depth);
    let mut truncated = within.len() < before;
    within.sort_by_key(|s| (s.depth, s.via, s.ci));
    if within.len() > max_nodes {
        within.truncate(max_nodes);
        truncated = true;
    }
    (within, truncated)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    // The reference the database's walk must agree with: a plain breadth-first search.

    /// One edge as stored: `source` `rel_type` `target`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Edge {
        id: Uuid,
        source: Uuid,
        rel_type: RelType,
        target: Uuid,
    }

    /// A CI impact reached: how deep, and by which edge from which CI.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Reached {
        id: Uuid,
        depth: u32,
        via: Uuid,
        from: Uuid,
    }

    /// Impact by breadth-first walk from `root` over `edges` in `direction`, up to `depth` levels
    /// and `max_nodes` CIs: each CI once, at its shortest depth (the first edge found at that
    /// depth, by edge id); the root is never listed. The reference the database's query is
    /// tested against. `truncated` when a cut left CIs out.
    fn impact(
        edges: &[Edge],
        root: Uuid,
        direction: Direction,
        depth: u32,
        max_nodes: usize,
    ) -> (Vec<Reached>, bool) {
        // Upstream walks an edge from its target to its source; a symmetric edge both ways.
        let mut next: BTreeMap<Uuid, Vec<&Edge>> = BTreeMap::new();
        for e in edges {
            let (from, _) = ends(e, direction);
            next.entry(from).or_default().push(e);
            if e.rel_type.symmetric() {
                let (_, to) = ends(e, direction);
                next.entry(to).or_default().push(e);
            }
        }
        for list in next.values_mut() {
            list.sort_by_key(|e| e.id);
        }
        let mut seen: HashSet<Uuid> = [root].into();
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(root, 0u32)]);
        let mut truncated = false;
        while let Some((at, d)) = queue.pop_front() {
            for e in next.get(&at).into_iter().flatten() {
                let (from, to) = ends(e, direction);
                let other = if from == at { to } else { from };
                if seen.contains(&other) {
                    continue;
                }
                if d + 1 > depth || out.len() >= max_nodes {
                    truncated = true;
                    continue;
                }
                seen.insert(other);
                out.push(Reached {
                    id: other,
                    depth: d + 1,
                    via: e.id,
                    from: at,
                });
                queue.push_back((other, d + 1));
            }
        }
        (out, truncated)
    }

    /// The end an impact walk leaves from and the end it reaches, in `direction`.
    fn ends(e: &Edge, direction: Direction) -> (Uuid, Uuid) {
        match direction {
            Direction::Upstream => (e.target, e.source),
            Direction::Downstream => (e.source, e.target),
        }
    }

    fn edge(source: Uuid, rel_type: RelType, target: Uuid) -> Edge {
        Edge {
            id: Uuid::now_v7(),
            source,
            rel_type,
            target,
        }
    }

    /// Every way to reach each CI within `depth` (what the database's walk returns).
    fn all_ways(edges: &[Edge], root: Uuid, direction: Direction, depth: u32) -> Vec<Step> {
        let mut out = Vec::new();
        let mut level = vec![root];
        for d in 1..=depth {
            let mut next = Vec::new();
            for at in &level {
                for e in edges {
                    let (from, to) = ends(e, direction);
                    let other = if from == *at {
                        Some(to)
                    } else if e.rel_type.symmetric() && to == *at {
                        Some(from)
                    } else {
                        None
                    };
                    if let Some(other) = other {
                        out.push(Step {
                            ci: other,
                            depth: d,
                            via: e.id,
                            rel_type: e.rel_type.as_str().into(),
                            from: *at,
                        });
                        next.push(other);
                    }
                }
            }
            next.sort();
            next.dedup();
            level = next;
        }
        out
    }

    #[test]
    fn the_nearest_ways_agree_with_a_breadth_first_walk_on_cyclic_graphs() {
        // A fixed-seed generator: the same 200 graphs every run.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut below = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..200 {
            let n = 2 + below(28);
            let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
            let edges: Vec<Edge> = (0..below(3 * n))
                .map(|_| {
                    let t = RelType::ALL[below(RelType::ALL.len())];
                    let (s, d) = (below(n), below(n));
                    edge(ids[s], t, ids[d])
                })
                .collect();
            let direction = if below(2) == 0 {
                Direction::Upstream
            } else {
                Direction::Downstream
            };
            let depth = 1 + below(5) as u32;
            let (bfs, bfs_cut) = impact(&edges, ids[0], direction, depth, usize::MAX);
            let (near, near_cut) = nearest(
                all_ways(&edges, ids[0], direction, depth + 1),
                ids[0],
                depth,
                usize::MAX,
            );
            let mut a: Vec<(Uuid, u32)> = bfs.iter().map(|r| (r.id, r.depth)).collect();
            let mut b: Vec<(Uuid, u32)> = near.iter().map(|s| (s.ci, s.depth)).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
            assert_eq!(bfs_cut, near_cut);
        }
    }

    #[test]
    fn types_read_both_ways() {
        assert_eq!(RelType::parse("hosts"), Some((RelType::HostedOn, true)));
        assert_eq!(RelType::parse("runs_on"), Some((RelType::RunsOn, false)));
        assert_eq!(RelType::parse("likes"), None);
    }

    #[test]
    fn rules_cover_subclasses_and_the_most_specific_wins() {
        let mut rules = built_in_rules();
        let hosted = allowing(
            &rules,
            "server/linux_server",
            RelType::HostedOn,
            "server/hypervisor",
        );
        assert_eq!(hosted.and_then(|r| r.max_targets), Some(1));
        assert!(allowing(&rules, "database", RelType::HostedOn, "server/hypervisor").is_none());
        // connected_to is symmetric: a switch may be written first.
        assert!(allowing(&rules, "network_device", RelType::ConnectedTo, "server").is_some());
        rules.push(RelRule {
            source_class: "linux_server".into(),
            rel_type: RelType::HostedOn,
            target_class: "hypervisor".into(),
            max_targets: Some(2),
            max_sources: None,
        });
        let specific = allowing(
            &rules,
            "server/linux_server",
            RelType::HostedOn,
            "server/hypervisor",
        );
        assert_eq!(specific.and_then(|r| r.max_targets), Some(2));
    }

    #[test]
    fn a_hosting_loop_is_found() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let hosted: BTreeMap<Uuid, Vec<Uuid>> = [(a, vec![b]), (b, vec![c])].into();
        assert!(closes_cycle(&hosted, c, a));
        assert!(!closes_cycle(&hosted, a, c));
        assert!(closes_cycle(&hosted, a, a));
    }

    #[test]
    fn impact_lists_each_ci_once_at_its_shortest_depth_and_says_when_cut() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let (hv, web, db, app, svc) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
        let edges = vec![
            edge(web, RelType::HostedOn, hv),
            edge(db, RelType::HostedOn, hv),
            edge(app, RelType::RunsOn, web),
            edge(app, RelType::DependsOn, db),
            edge(svc, RelType::DependsOn, app),
            // A cycle back to the root terminates.
            edge(hv, RelType::DependsOn, svc),
        ];
        let (up, cut) = impact(&edges, hv, Direction::Upstream, 10, 1000);
        let depth_of = |id| up.iter().find(|r| r.id == id).map(|r| r.depth);
        assert_eq!(up.len(), 4);
        assert_eq!(depth_of(web), Some(1));
        assert_eq!(depth_of(app), Some(2));
        assert_eq!(depth_of(svc), Some(3));
        assert!(!cut);
        let (shallow, cut) = impact(&edges, hv, Direction::Upstream, 1, 1000);
        assert_eq!(shallow.len(), 2);
        assert!(cut);
        let (few, cut) = impact(&edges, hv, Direction::Upstream, 10, 1);
        assert_eq!(few.len(), 1);
        assert!(cut);
        let (down, _) = impact(&edges, app, Direction::Downstream, 10, 1000);
        assert_eq!(
            down.len(),
            4,
            "web, db, the hypervisor, and back up to the service"
        );
    }
}
