//! CSV exports (RFC 4180: comma-separated, `"`-quoted where needed, CRLF line ends). A text
//! cell that a spreadsheet would read as a formula (starting `=`, `+`, `-`, `@`, tab, CR or LF)
//! is prefixed with `'`, so an exported value can never run as one. Numbers are written as
//! numbers.

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Cell::Empty, Cell::Number)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Number(v as f64)
    }
}

/// The text a spreadsheet may not take for a formula.
pub fn guarded(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') => format!("'{text}"),
        _ => text.to_string(),
    }
}

/// The CSV document of `header` and `rows`.
pub fn document(header: &[&str], rows: &[Vec<Cell>]) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(row.iter().map(|c| match c {
            Cell::Text(t) => guarded(t),
            Cell::Number(n) => n.to_string(),
            Cell::Empty => String::new(),
        }))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_quoting_is_rfc_4180() {
        let rows = vec![
            vec![Cell::from("=HYPERLINK(\"x\")"), Cell::from(Some(1.5))],
            vec![Cell::from("+1"), Cell::from(-2)],
            vec![Cell::from("-1"), Cell::Empty],
            vec![Cell::from("@SUM(A1)"), Cell::from(0)],
            vec![Cell::from("\tx"), Cell::from(3)],
            vec![Cell::from("a,b \"c\"\r\nd"), Cell::from(4)],
            vec![Cell::from("plain"), Cell::from(5)],
        ];
        let doc = document(&["name", "value"], &rows).unwrap_or_default();
        assert_eq!(
            doc,
            "name,value\r\n\
             \"'=HYPERLINK(\"\"x\"\")\",1.5\r\n\
             '+1,-2\r\n\
             '-1,\r\n\
             '@SUM(A1),0\r\n\
             '\tx,3\r\n\
             \"a,b \"\"c\"\"\r\nd\",4\r\n\
             plain,5\r\n"
        );
    }
}
