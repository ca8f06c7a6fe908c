//! Tabular output shared by the reports: CSV (RFC 4180, via the `csv` crate) and the HTML
//! escaping of text placed in report pages.

use crate::ReportError;

/// CSV text with a header row.
pub(crate) fn csv_text<I, R>(header: &[&str], rows: I) -> Result<String, ReportError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let fail = |e: csv::Error| ReportError::Csv(e.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(fail)?;
    for r in rows {
        w.write_record(r).map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| ReportError::Csv("the text is not UTF-8".into()))
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn csv_quotes_separators() {
        let t = csv_text(&["a", "b"], [vec!["1,2", "x\"y"]]).expect("csv");
        assert_eq!(t, "a,b\n\"1,2\",\"x\"\"y\"\n");
    }
}
