//! Plain-text tables for terminals: columns as wide as their widest cell, so a long place
//! name or URL never pushes the rest of its row out of line.

use std::fmt::Write as _;

/// Aligned columns under a header, two spaces apart; the last column is not padded and no
/// line ends in spaces. Widths count characters, not bytes.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i == widths.len() {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec![
                "pop".to_string(),
                "IAD Ashburn (Washington DC area)".to_string(),
                "x".to_string(),
            ],
            vec![
                "rec".to_string(),
                "Zürich".to_string(),
                "long last cell".to_string(),
            ],
        ];
        let text = table(&["tier", "place", "upstream"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "tier  place                             upstream");
        assert_eq!(lines[1], "pop   IAD Ashburn (Washington DC area)  x");
        assert_eq!(
            lines[2],
            "rec   Zürich                            long last cell"
        );
    }

    #[test]
    fn empty_last_cells_leave_no_trailing_spaces() {
        let text = table(&["a", "b"], &[vec!["1".to_string(), String::new()]]);
        assert_eq!(text, "a  b\n1\n");
    }
}
