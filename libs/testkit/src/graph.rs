//! The reference the CMDB's impact walk is checked against: a breadth-first walk in memory.
use std::collections::{BTreeMap, VecDeque};

/// Depth of every node reached from `root` within `depth` edges when `edges` (source →
/// target) are followed backwards (who depends on the root), the root left out.
pub fn upstream(edges: &[(usize, usize)], root: usize, depth: u32) -> BTreeMap<usize, u32> {
    let mut seen = BTreeMap::from([(root, 0)]);
    let mut queue = VecDeque::from([(root, 0)]);
    while let Some((at, d)) = queue.pop_front() {
        if d == depth {
            continue;
        }
        for (source, _) in edges.iter().filter(|(_, target)| *target == at) {
            if !seen.contains_key(source) {
                seen.insert(*source, d + 1);
                queue.push_back((*source, d + 1));
            }
        }
    }
    seen.remove(&root);
    seen
}

/// `count` distinct edges between `nodes` nodes, no self-loops, cycles welcome, the same for
/// the same `seed`.
pub fn random_edges(nodes: usize, count: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut x = seed;
    let mut edges = Vec::with_capacity(count);
    while edges.len() < count.min(nodes * nodes.saturating_sub(1)) {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let (a, b) = ((x >> 33) as usize % nodes, (x >> 13) as usize % nodes);
        if a != b && !edges.contains(&(a, b)) {
            edges.push((a, b));
        }
    }
    edges
}
