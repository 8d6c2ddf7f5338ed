//! Refusals that depend on the caller, such as a role or scope it may not grant: the handler
//! finds them, since a request parses the same whoever sends it, yet they are answered in the
//! same 422 as the request's own field errors, in the order one pass over the request would
//! have reported them.
use platform::FieldError;

/// Refused items of one list field of a request (`/roles`, `/scopes`), by index.
pub struct ItemRefusals {
    list: &'static str,
    refused: Vec<(usize, FieldError)>,
}

impl ItemRefusals {
    /// No refusals yet of the items of the list at `list`, a JSON Pointer such as `/roles`.
    pub fn new(list: &'static str) -> Self {
        Self {
            list,
            refused: Vec::new(),
        }
    }

    /// Refuses the item at `index`.
    pub fn refuse(&mut self, index: usize, code: &str, detail: impl Into<String>) {
        let pointer = format!("{}/{index}", self.list);
        self.refused
            .push((index, FieldError::new(pointer, code, detail)));
    }

    /// `parsed` when nothing was refused; otherwise every field error of both: the other
    /// fields' first, as parsed, then the list's items in index order, the refusals among the
    /// parse errors. (The list is the last field of the requests that use this.)
    pub fn merge<T>(self, parsed: Result<T, Vec<FieldError>>) -> Result<T, Vec<FieldError>> {
        if self.refused.is_empty() {
            return parsed;
        }
        let mut items = self.refused;
        let mut errors = Vec::new();
        for e in parsed.err().unwrap_or_default() {
            match item_index(self.list, &e.pointer) {
                Some(i) => items.push((i, e)),
                None => errors.push(e),
            }
        }
        items.sort_by_key(|(i, _)| *i);
        errors.extend(items.into_iter().map(|(_, e)| e));
        Err(errors)
    }
}

/// The index of the item of `list` that `pointer` names (`/roles/2` in `/roles` is 2).
fn item_index(list: &str, pointer: &str) -> Option<usize> {
    pointer.strip_prefix(list)?.strip_prefix('/')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn nothing_refused_keeps_the_parse() {
        assert_eq!(
            ItemRefusals::new("/roles").merge(Ok::<_, Vec<FieldError>>(7)),
            Ok(7)
        );
        let parsed = Err(vec![FieldError::new("/email", "invalid_email", "")]);
        assert_eq!(
            pointers(ItemRefusals::new("/roles").merge(parsed)),
            vec!["/email"]
        );
    }

    #[test]
    fn refusals_fail_a_valid_request() {
        let mut refusals = ItemRefusals::new("/scopes");
        refusals.refuse(0, "scope_not_grantable", "");
        assert_eq!(pointers(refusals.merge(Ok(()))), vec!["/scopes/0"]);
    }

    #[test]
    fn refusals_take_their_item_place_among_the_parse_errors() {
        let parsed = Err(vec![
            FieldError::new("/email", "invalid_email", ""),
            FieldError::new("/roles/1", "unknown_role", ""),
            FieldError::new("/roles/10", "unknown_role", ""),
        ]);
        let mut refusals = ItemRefusals::new("/roles");
        refusals.refuse(2, "role_not_allowed", "");
        refusals.refuse(0, "role_not_grantable", "");
        assert_eq!(
            pointers(refusals.merge(parsed)),
            vec!["/email", "/roles/0", "/roles/1", "/roles/2", "/roles/10"]
        );
    }

    #[test]
    fn only_items_of_the_list_are_items() {
        assert_eq!(item_index("/roles", "/roles/3"), Some(3));
        assert_eq!(item_index("/roles", "/roles"), None);
        assert_eq!(item_index("/roles", "/rolesx/3"), None);
        assert_eq!(item_index("/scopes", "/roles/3"), None);
    }
}
