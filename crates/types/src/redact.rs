//! Error messages of parsers (serde, TOML, JSON) quote what they found: a field's name, a
//! value, a line. In files and requests that carry patient or employee identifiers, what
//! was found may be one. [`parser_message`] keeps what names the format and drops the rest.

/// A parser's error message fit to show: each backtick-quoted token kept only if it is a
/// key name of our formats (see [`is_key_name`]) and replaced by `` `…` `` otherwise; the
/// name in `unknown field` taken whole even if it contains backticks; and, as a last
/// guard, any run of six or more digits (with `-`, `+` or spaces between) replaced by `…`.
///
/// `unknown field `19121212-1212`, expected `path`` becomes
/// `unknown field `…`, expected `path``; `missing field `patient_id`` stays as it is.
pub fn parser_message(msg: &str) -> String {
    mask_digit_runs(&quoted_names_only(msg))
}

fn quoted_names_only(msg: &str) -> String {
    // serde: "unknown field `NAME`, expected ..." where NAME is the input's, backticks and all.
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (name, tail) = match rest.rfind("`, expected") {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest.strip_suffix('`').unwrap_or(rest), ""),
        };
        let name = if is_key_name(name) { name } else { "…" };
        return format!("unknown field `{name}`{}", quoted_names_only(tail));
    }
    let mut out = String::with_capacity(msg.len());
    for (i, part) in msg.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        } else if is_key_name(part) {
            out.push('`');
            out.push_str(part);
            out.push('`');
        } else {
            out.push_str("`…`");
        }
    }
    out
}

/// A key name of our formats: a lower-case letter, then lower-case letters, digits and
/// underscores.
pub fn is_key_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `s` holds a run of six or more digits (with `-`, `+` or spaces between): what a
/// personnummer or phone number looks like, so what is never shown.
pub fn holds_long_number(s: &str) -> bool {
    mask_digit_runs(s) != s
}

fn mask_digit_runs(msg: &str) -> String {
    let b = msg.as_bytes();
    let mut out = String::with_capacity(msg.len());
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || matches!(b[j], b'-' | b'+' | b' ')) {
                j += 1;
            }
            // Trailing separators are not part of the number.
            while j > i && !b[j - 1].is_ascii_digit() {
                j -= 1;
            }
            let digits = b[i..j].iter().filter(|c| c.is_ascii_digit()).count();
            if digits >= 6 {
                out.push('…');
            } else {
                out.push_str(&msg[i..j]);
            }
            i = j;
        } else {
            let c = msg[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_numbers_are_recognised() {
        assert!(holds_long_number("archive/19121212-1212.wav"));
        assert!(holds_long_number("+46 70 123 45 67"));
        assert!(!holds_long_number("archive/call-0001.wav"));
        // A date is digits with separators too: conservatively, it counts.
        assert!(holds_long_number("2026-11-01"));
    }
    use super::parser_message;

    #[test]
    fn keeps_key_names_and_drops_what_the_input_said() {
        assert_eq!(
            parser_message("unknown field `19121212-1212`, expected `path` or `call_id`"),
            "unknown field `…`, expected `path` or `call_id`"
        );
        assert_eq!(
            parser_message("unknown field `colour`, expected `path`"),
            "unknown field `colour`, expected `path`"
        );
        // A name with backticks in it (found by fuzzing) is still one name.
        assert_eq!(
            parser_message("unknown field `ca-l_i`99999999999`, expected `path`"),
            "unknown field `…`, expected `path`"
        );
        assert_eq!(
            parser_message("invalid type: integer `191212121212`, expected a string"),
            "invalid type: integer `…`, expected a string"
        );
        assert_eq!(
            parser_message("invalid type: string \"19121212-1212\", expected u64"),
            "invalid type: string \"…\", expected u64"
        );
        assert_eq!(
            parser_message("expected newline, `#`"),
            "expected newline, `…`"
        );
        assert_eq!(
            parser_message("line 12, column 5: år"),
            "line 12, column 5: år"
        );
        assert_eq!(
            parser_message("missing field `patient_id`"),
            "missing field `patient_id`"
        );
    }
}
