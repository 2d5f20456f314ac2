//! Common Log Format (`%h %l %u %t "%r" %>s %b`, Apache's `common` and nginx's default
//! without the last two) and Combined (`... "%{Referer}i" "%{User-agent}i"`, nginx's
//! `combined`).

use crate::LogRecord;
use crate::time::{civil_to_unix_ms, month_number};

/// Splits off the next space-separated token.
fn token(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    Some(text.split_once(' ').unwrap_or((text, "")))
}

/// Splits off the next `"quoted"` value (backslash escapes kept).
fn quoted(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start().strip_prefix('"')?;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some((&text[..at], &text[at + 1..])),
            _ => escaped = false,
        }
    }
    None
}

/// `10/Oct/2000:13:55:36 -0700` → Unix milliseconds.
fn timestamp(text: &str) -> Option<i64> {
    let (stamp, zone) = text.split_once(' ')?;
    let mut parts = stamp.splitn(4, [':', '/']);
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    let clock = crate::time::parse_hms(parts.next()?)?;
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset_min = digits[..2].parse::<i64>().ok()? * 60 + digits[2..].parse::<i64>().ok()?;
    let local = civil_to_unix_ms(
        year.parse().ok()?,
        month_number(month)?,
        day.parse().ok()?,
        clock.0,
        clock.1,
        clock.2,
        0,
    );
    Some(local - sign * offset_min * 60_000)
}

/// Parses one line.
pub(crate) fn parse(text: &str, line: u64) -> Result<LogRecord, String> {
    let (host, rest) = token(text).ok_or("empty line")?;
    let (_ident, rest) = token(rest).ok_or("no ident field")?;
    let (_user, rest) = token(rest).ok_or("no user field")?;
    let rest = rest.trim_start().strip_prefix('[').ok_or("no [time]")?;
    let (stamp, rest) = rest.split_once(']').ok_or("no closing ] after the time")?;
    let time_ms = timestamp(stamp)
        .ok_or_else(|| format!("time `{stamp}` is not dd/Mon/yyyy:HH:MM:SS +zzzz"))?;
    let (request, rest) = quoted(rest).ok_or("no quoted request line")?;
    let mut words = request.split(' ');
    let (Some(method), Some(target), Some(_version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(format!(
            "request line `{request}` is not `METHOD TARGET VERSION`"
        ));
    };
    if !target.starts_with('/') || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "request line `{request}` is not `METHOD /path VERSION`"
        ));
    }
    let (status, rest) = token(rest).ok_or("no status")?;
    let status = status
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| format!("status `{status}` is not an HTTP status"))?;
    let (bytes, rest) = token(rest).ok_or("no byte count")?;
    let bytes = match bytes {
        "-" => 0,
        n => n
            .parse::<u64>()
            .map_err(|_| format!("byte count `{n}` is not a number"))?,
    };
    let user_agent = quoted(rest)
        .and_then(|(_referer, rest)| quoted(rest))
        .map(|(agent, _)| agent.to_string())
        .filter(|agent| agent != "-");
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    Ok(LogRecord {
        line,
        time_ms,
        method: method.to_string(),
        path: path.to_string(),
        query,
        status,
        bytes,
        content_length: Some(bytes),
        content_type: None,
        edge_location: None,
        edge_result: None,
        client: Some(host.to_string()),
        user_agent,
    })
}
