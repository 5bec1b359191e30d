//! What the operator and the policy officers read, rendered from plain structs: `veille
//! status` and `veille dossier show` (text and JSON), short causes of failures, and times
//! as people say them. Pure: no store, no clock (`now` and the time zone are parameters).
//! `app/` gathers the data and prints what this module renders.

pub mod cause;
pub mod dossier;
pub mod status;
pub mod when;

/// Rows as plainly aligned columns (two spaces apart, the last one not padded).
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter(|r| r.len() > c + 1)
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 < r.len() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
