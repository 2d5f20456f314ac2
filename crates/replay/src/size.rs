//! Byte sizes as written on the command line: a whole number followed by an optional unit,
//! binary (`KiB`, `MiB`, `GiB`, `TiB`) or decimal (`kB`/`KB`, `MB`, `GB`, `TB`), or `B`.

/// Parses `128MiB`, `1GiB`, `64MB`, `4096` or `4096B` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (want e.g. 128MiB, 1GiB, 4096)"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a size unit (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a comma-separated list of sizes (`64MiB,256MiB,1GiB`).
pub fn parse_sizes(text: &str) -> Result<Vec<u64>, String> {
    text.split(',').map(parse_size).collect()
}

/// Formats bytes for a table: the largest binary unit that divides it, else bytes.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_binary_and_decimal() {
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64MB"), Ok(64_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("7B"), Ok(7));
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999TiB").is_err());
        assert!(parse_sizes("1MiB,,2MiB").is_err());
    }

    #[test]
    fn format_round_trips_whole_units() {
        assert_eq!(format_size(128 << 20), "128MiB");
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(parse_size(&format_size(640 << 20)), Ok(640 << 20));
    }
}
