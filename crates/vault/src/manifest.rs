//! Import manifests: CSV with a header, or JSON Lines, naming one recording per row.
//!
//! Fields: `path,call_id,care_provider,care_unit,started_at,patient_id,caller_number,nurse_hsa_id`.
//! `started_at` is RFC 3339; `path` is relative to the manifest's folder; `caller_number`
//! and `nurse_hsa_id` may be empty. Each row is validated on its own: a bad row is reported
//! with its line number and reason and does not stop the others.

use std::path::{Component, Path, PathBuf};

use callvault_types::{CallId, CallerNumber, CareProvider, CareUnit, HsaId, PatientId};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The CSV header, in the documented order.
pub const FIELDS: [&str; 8] = [
    "path",
    "call_id",
    "care_provider",
    "care_unit",
    "started_at",
    "patient_id",
    "caller_number",
    "nurse_hsa_id",
];

/// Why a manifest cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Reading the file failed.
    #[error("reading manifest {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The CSV header is missing a field or has an unknown one.
    #[error("manifest header must be {expected}; found {found}")]
    BadHeader {
        /// Expected header.
        expected: String,
        /// Found header.
        found: String,
    },
    /// The file's extension is neither `.csv` nor `.jsonl`.
    #[error("manifest {0} must end in .csv or .jsonl")]
    UnknownFormat(PathBuf),
}

/// One valid row.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    /// 1-based line number in the manifest.
    pub line: u64,
    /// Absolute path of the WAV file.
    pub path: PathBuf,
    /// Telephony call id.
    pub call_id: CallId,
    /// Care provider.
    pub care_provider: CareProvider,
    /// Care unit.
    pub care_unit: CareUnit,
    /// Call start.
    pub started_at: OffsetDateTime,
    /// Patient.
    pub patient: PatientId,
    /// Caller number.
    pub caller: Option<CallerNumber>,
    /// Nurse.
    pub nurse: Option<HsaId>,
}

/// A row that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong (never containing patient identifiers).
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    path: String,
    call_id: String,
    care_provider: String,
    care_unit: String,
    started_at: String,
    patient_id: String,
    #[serde(default)]
    caller_number: Option<String>,
    #[serde(default)]
    nurse_hsa_id: Option<String>,
}

fn validate(raw: RawRow, line: u64, base: &Path) -> Result<ManifestRow, RowError> {
    let err = |reason: String| RowError { line, reason };
    let rel = Path::new(&raw.path);
    if raw.path.is_empty()
        || rel.is_absolute()
        || rel.components().any(|c| matches!(c, Component::ParentDir))
    {
        return Err(err(
            "path must be a relative path inside the manifest's folder".into(),
        ));
    }
    let call_id = CallId::parse(&raw.call_id).map_err(|e| err(format!("call_id: {e}")))?;
    let care_provider =
        CareProvider::parse(&raw.care_provider).map_err(|e| err(format!("care_provider: {e}")))?;
    let care_unit = CareUnit::parse(&raw.care_unit).map_err(|e| err(format!("care_unit: {e}")))?;
    let started_at = OffsetDateTime::parse(&raw.started_at, &Rfc3339).map_err(|e| {
        err(format!(
            "started_at must be RFC 3339 (e.g. 2026-03-01T08:15:00Z): {e}"
        ))
    })?;
    // Never echo the patient id itself: the error text ends up in terminals and logs.
    let patient =
        PatientId::parse_any(&raw.patient_id).map_err(|e| err(format!("patient_id: {e}")))?;
    let caller = match raw.caller_number.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(CallerNumber::parse(s).map_err(|e| err(format!("caller_number: {e}")))?),
    };
    let nurse = match raw.nurse_hsa_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(HsaId::parse(s).map_err(|e| err(format!("nurse_hsa_id: {e}")))?),
    };
    Ok(ManifestRow {
        line,
        path: base.join(rel),
        call_id,
        care_provider,
        care_unit,
        started_at,
        patient,
        caller,
        nurse,
    })
}

/// Reads a manifest (`.csv` or `.jsonl`) into valid rows and row errors, in line order.
pub fn read(path: &Path) -> Result<Vec<Result<ManifestRow, RowError>>, ManifestError> {
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => ManifestFormat::Csv,
        Some("jsonl") => ManifestFormat::Jsonl,
        _ => return Err(ManifestError::UnknownFormat(path.to_owned())),
    };
    parse(&text, format, &base)
}

/// The two manifest formats.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ManifestFormat {
    /// Comma-separated, with a header line naming [`FIELDS`].
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Parses a manifest's text into valid rows and row errors, in line order; audio paths are
/// taken relative to `base`. What [`read`] does after reading the file (and the fuzz
/// targets' entry point).
pub fn parse(
    text: &str,
    format: ManifestFormat,
    base: &Path,
) -> Result<Vec<Result<ManifestRow, RowError>>, ManifestError> {
    match format {
        ManifestFormat::Csv => read_csv(text, base),
        ManifestFormat::Jsonl => Ok(read_jsonl(text, base)),
    }
}

fn read_csv(text: &str, base: &Path) -> Result<Vec<Result<ManifestRow, RowError>>, ManifestError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| ManifestError::BadHeader {
            expected: FIELDS.join(","),
            found: e.to_string(),
        })?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut sorted_h = header.clone();
    sorted_h.sort();
    let mut sorted_f: Vec<String> = FIELDS.iter().map(|s| (*s).to_owned()).collect();
    sorted_f.sort();
    if sorted_h != sorted_f {
        // A file without a header line would put patient data here: show what looks like a
        // column name, and only the position of anything else.
        let found = header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                if callvault_types::redact::is_key_name(h)
                    && h.len() <= 40
                    && !callvault_types::redact::holds_long_number(h)
                {
                    h.clone()
                } else {
                    format!("<column {}: not a column name>", i + 1)
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let missing: Vec<&str> = FIELDS
            .iter()
            .copied()
            .filter(|f| !header.iter().any(|h| h == f))
            .collect();
        let found = if missing.is_empty() {
            found
        } else {
            format!("{found} (missing: {})", missing.join(", "))
        };
        return Err(ManifestError::BadHeader {
            expected: FIELDS.join(","),
            found,
        });
    }
    let headers = csv::StringRecord::from(header);
    let mut out = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                out.push(match rec.deserialize::<RawRow>(Some(&headers)) {
                    Ok(raw) => validate(raw, line, base),
                    Err(e) => Err(RowError {
                        line,
                        reason: csv_reason(&e),
                    }),
                });
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                out.push(Err(RowError {
                    line,
                    reason: csv_reason(&e),
                }));
            }
        }
    }
    Ok(out)
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("row has {len} fields; expected {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "row is not valid UTF-8".into(),
        csv::ErrorKind::Deserialize { err, .. } => format!("row field is invalid: {}", err.kind()),
        _ => "row is malformed CSV".into(),
    }
}

fn read_jsonl(text: &str, base: &Path) -> Vec<Result<ManifestRow, RowError>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let line = i as u64 + 1;
            let raw: RawRow = serde_json::from_str(l).map_err(|e| RowError {
                line,
                // serde_json messages name fields and types, not values.
                reason: format!("invalid JSON row: {}", json_reason(&e)),
            })?;
            validate(raw, line, base)
        })
        .collect()
}

fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            // Only messages that name a field (never a value) are passed on.
            let msg = e.to_string();
            let msg = msg.split(" at line").next().unwrap_or_default();
            if msg.starts_with("missing field") || msg.starts_with("unknown field") {
                // A row may name a field by anything, a personal number included.
                callvault_types::redact::parser_message(
                    msg.split(", expected").next().unwrap_or_default(),
                )
            } else {
                "a field has the wrong type (every field is a string)".into()
            }
        }
        Category::Syntax | Category::Eof => "not a JSON object".into(),
        Category::Io => "read error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "path,call_id,care_provider,care_unit,started_at,patient_id,caller_number,nurse_hsa_id";

    #[test]
    fn csv_rows_are_validated_one_by_one_with_line_numbers() {
        let text = format!(
            "{HEADER}\n\
             a.wav,c1,SE2321000016-0001,SE2321000016-U001,2026-03-01T08:15:00Z,19121212-1212,+46701234567,SE2321000016-N001\n\
             b.wav,c2,SE2321000016-0001,SE2321000016-U001,2026-03-01T08:15:00Z,19121212-1213,,\n\
             c.wav,c3,BAD,SE2321000016-U001,2026-03-01T08:15:00Z,19121212-1212,,\n\
             /etc/passwd,c4,SE2321000016-0001,SE2321000016-U001,2026-03-01T08:15:00Z,19121212-1212,,\n\
             d.wav,c5,SE2321000016-0001,SE2321000016-U001,yesterday,19121212-1212,,\n\
             e.wav,c6,too,few\n"
        );
        let rows = read_csv(&text, Path::new("/m")).expect("read");
        assert_eq!(rows.len(), 6);
        let ok = rows[0].as_ref().expect("row 1");
        assert_eq!(ok.line, 2);
        assert_eq!(ok.path, Path::new("/m/a.wav"));
        let errs: Vec<&RowError> = rows[1..]
            .iter()
            .map(|r| r.as_ref().expect_err("bad"))
            .collect();
        assert_eq!(
            errs.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4, 5, 6, 7]
        );
        assert!(errs[0].reason.contains("check digit"), "{}", errs[0].reason);
        assert!(
            !errs[0].reason.contains("1213"),
            "patient id must not be echoed"
        );
        assert!(errs[1].reason.contains("care_provider"));
        assert!(errs[2].reason.contains("relative path"));
        assert!(errs[3].reason.contains("RFC 3339"));
        assert!(errs[4].reason.contains("fields"));
    }

    #[test]
    fn csv_header_must_match() {
        let err = read_csv("path,call_id\nx,y\n", Path::new("/m")).expect_err("header");
        assert!(err.to_string().contains("manifest header must be"));
        // A manifest without a header must not echo its first row (patient data).
        let err = read_csv(
            "a.wav,c1,SE2321000016-0001,SE2321000016-U001,2026-03-01T08:15:00Z,19121212-1212,,\n",
            Path::new("/m"),
        )
        .expect_err("no header");
        assert!(!err.to_string().contains("1212"), "{err}");
        // Fuzzing found it: a column name may be a key name and still hold a long number.
        let err = read_csv(
            "path,call_idN,care_444444444444unit,started_at\n",
            Path::new("/m"),
        )
        .expect_err("bad header");
        assert!(!err.to_string().contains("444444"), "{err}");
        assert!(
            err.to_string().contains("<column 3: not a column name>"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_rows() {
        let text = r#"{"path":"a.wav","call_id":"c1","care_provider":"SE2321000016-0001","care_unit":"SE2321000016-U001","started_at":"2026-03-01T08:15:00+01:00","patient_id":"R:RES-1"}

{"path":"a.wav"}
not json
{"path":"a.wav","call_id":"c1","care_provider":"SE2321000016-0001","care_unit":"SE2321000016-U001","started_at":"2026-03-01T08:15:00Z","patient_id":191212121212}
"#;
        let rows = read_jsonl(text, Path::new("/m"));
        assert_eq!(rows.len(), 4);
        assert!(rows[0].is_ok());
        let e = rows[1].as_ref().expect_err("missing");
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("missing field"), "{}", e.reason);
        assert_eq!(rows[2].as_ref().expect_err("syntax").line, 4);
        let typed = rows[3].as_ref().expect_err("number");
        assert!(!typed.reason.contains("1212"), "{}", typed.reason);
    }

    /// Fuzzing found it: a JSONL row's unknown field was named in the row error, and a
    /// field may be named by a personal number.
    #[test]
    fn jsonl_unknown_fields_are_not_named_unless_they_are_key_names() {
        let rows = parse(
            "{\"path\":\"a.wav\",\"19121212-1212\":\"x\"}\n{\"path\":\"a.wav\",\"colour\":\"x\"}\n\
             {\"path\":\"a.wav\",\"ca`99999999999\":\"x\"}\n",
            ManifestFormat::Jsonl,
            Path::new("/m"),
        )
        .expect("parse");
        let reasons: Vec<String> = rows
            .into_iter()
            .map(|r| r.expect_err("unknown field").reason)
            .collect();
        assert_eq!(reasons[0], "invalid JSON row: unknown field `…`");
        assert_eq!(reasons[1], "invalid JSON row: unknown field `colour`");
        // A name with a backtick in it (fuzzing found this one too) is one name.
        assert_eq!(reasons[2], "invalid JSON row: unknown field `…`");
    }
}
