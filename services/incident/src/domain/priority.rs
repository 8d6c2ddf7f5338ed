//! Priority from impact and urgency (ITIL matrix), overridable per tenant.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// 1 (highest) to 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    /// The middle of the scale: where an incident no person has triaged yet starts.
    pub const MEDIUM: Level = Level(2);

    pub fn new(v: u8) -> Option<Self> {
        (1..=3).contains(&v).then_some(Self(v))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Level::new(v).ok_or_else(|| format!("must be 1, 2 or 3 (got {v})"))
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.0
    }
}

/// 1 Critical, 2 High, 3 Moderate, 4 Low, 5 Planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    pub fn new(v: u8) -> Option<Self> {
        (1..=5).contains(&v).then_some(Self(v))
    }
    pub fn get(self) -> u8 {
        self.0
    }
    pub fn label(self) -> &'static str {
        ["Critical", "High", "Moderate", "Low", "Planning"][(self.0 - 1) as usize]
    }
}

impl TryFrom<u8> for Priority {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Priority::new(v).ok_or_else(|| format!("must be between 1 and 5 (got {v})"))
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

/// `cells[impact - 1][urgency - 1]` is the priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Matrix {
    #[schema(value_type = Vec<Vec<u8>>)]
    pub cells: [[Priority; 3]; 3],
}

impl Default for Matrix {
    /// (1,1)=1; (1,2),(2,1)=2; (1,3),(2,2),(3,1)=3; (2,3),(3,2)=4; (3,3)=5.
    fn default() -> Self {
        let p = |v| Priority(v);
        Matrix {
            cells: [[p(1), p(2), p(3)], [p(2), p(3), p(4)], [p(3), p(4), p(5)]],
        }
    }
}

impl Matrix {
    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        self.cells[(impact.0 - 1) as usize][(urgency.0 - 1) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matrix_table() {
        let m = Matrix::default();
        let table = [
            ((1, 1), 1),
            ((1, 2), 2),
            ((2, 1), 2),
            ((1, 3), 3),
            ((2, 2), 3),
            ((3, 1), 3),
            ((2, 3), 4),
            ((3, 2), 4),
            ((3, 3), 5),
        ];
        for ((i, u), p) in table {
            let got = Level::new(i)
                .zip(Level::new(u))
                .map(|(i, u)| m.priority(i, u).get());
            assert_eq!(got, Some(p), "impact {i}, urgency {u}");
        }
        assert_eq!(Priority::new(1).map(Priority::label), Some("Critical"));
        assert_eq!(Priority::new(5).map(Priority::label), Some("Planning"));
    }

    #[test]
    fn levels_outside_one_to_three_are_refused() {
        assert!(Level::new(0).is_none());
        assert!(Level::new(4).is_none());
        assert!(serde_json::from_str::<Level>("4").is_err());
    }
}
