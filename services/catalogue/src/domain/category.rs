//! What a valid category is, and where it may sit in its tenant's tree.
use uuid::Uuid;

/// How deep the tree goes: a requester browsing a portal finds items within a few clicks.
pub const MAX_DEPTH: usize = 5;

/// A new category, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCategory {
    pub name: String,
    pub description: String,
    pub parent_id: Option<Uuid>,
}

/// A change to a category, checked; `None` leaves a field as it is, `Some(None)` moves it to
/// the top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub parent_id: Option<Option<Uuid>>,
}

/// Why a category may not go under a parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The parent is the category itself or one of its descendants.
    Cycle,
    /// The category (with its subtree) would sit deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Whether `id` (with a subtree `below` levels deep under it, 0 for a leaf) may sit under a
/// parent whose ancestry, from the parent up to the top, is `ancestry`.
pub fn check_placement(id: Uuid, below: usize, ancestry: &[Uuid]) -> Result<(), Placement> {
    if ancestry.contains(&id) {
        return Err(Placement::Cycle);
    }
    // The parent's depth is its ancestry's length; the category one more; its subtree below.
    if ancestry.len() + 1 + below > MAX_DEPTH {
        return Err(Placement::TooDeep);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
    }

    #[test]
    fn a_category_never_goes_under_itself_or_its_descendants() {
        let me = Uuid::now_v7();
        let mut ancestry = ids(2);
        assert_eq!(check_placement(me, 0, &ancestry), Ok(()));
        ancestry.push(me);
        assert_eq!(check_placement(me, 0, &ancestry), Err(Placement::Cycle));
    }

    #[test]
    fn the_tree_stays_within_its_depth() {
        let me = Uuid::now_v7();
        assert_eq!(check_placement(me, 0, &ids(MAX_DEPTH - 1)), Ok(()));
        assert_eq!(
            check_placement(me, 0, &ids(MAX_DEPTH)),
            Err(Placement::TooDeep)
        );
        assert_eq!(
            check_placement(me, 2, &ids(MAX_DEPTH - 2)),
            Err(Placement::TooDeep)
        );
        assert_eq!(check_placement(me, 2, &ids(MAX_DEPTH - 3)), Ok(()));
    }
}
