//! The log extract as a PDF (via `pdf-writer`): A4 landscape, Helvetica (a base-14 font,
//! nothing embedded) in WinAnsiEncoding, which holds every Swedish letter. A table of the
//! accesses with a header row on every page and "Sida i av n" in the footer.

use pdf_writer::{Content, Date, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::{LogExtract, StaffDisclosure};

const PAGE_W: f32 = 842.0;
const PAGE_H: f32 = 595.0;
const MARGIN: f32 = 36.0;
const TABLE_SIZE: f32 = 8.5;
const LEADING: f32 = 10.5;
const FOOTER_Y: f32 = 22.0;

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Text in WinAnsiEncoding (Windows-1252): Latin-1 letters map to themselves; a few
/// typographic marks have their own codes; anything else becomes `?`.
fn winansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '–' => 0x96,
            '—' => 0x97,
            '…' => 0x85,
            '’' => 0x92,
            '‘' => 0x91,
            '”' => 0x94,
            '“' => 0x93,
            '€' => 0x80,
            _ => b'?',
        })
        .collect()
}

/// Approximate Helvetica advance width of a character, in 1/1000 em (conservative, so
/// text never runs into the next column).
fn advance(c: char) -> f32 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '!' | '|' => 280.0,
        ' ' | 'f' | 't' | 'r' | 'I' | '-' | '(' | ')' | '/' | '[' | ']' => 340.0,
        'm' | 'w' | 'M' | 'W' | '@' => 860.0,
        'A'..='Z' | 'Å' | 'Ä' | 'Ö' | 'É' | '&' => 722.0,
        _ => 570.0,
    }
}

fn width(s: &str, size: f32) -> f32 {
    s.chars().map(advance).sum::<f32>() * size / 1000.0
}

/// Breaks text into lines no wider than `max` (words longer than a line are cut).
fn wrap(s: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut rest = word.to_owned();
        while width(&rest, size) > max {
            let mut cut = String::new();
            for c in rest.chars() {
                if width(&format!("{cut}{c}"), size) > max {
                    break;
                }
                cut.push(c);
            }
            if cut.is_empty() {
                break;
            }
            rest = rest[cut.len()..].to_owned();
            lines.push(cut);
        }
        line = rest;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

struct Column {
    title: &'static str,
    width: f32,
}

fn columns(d: StaffDisclosure) -> Vec<Column> {
    let c = |title, width| Column { title, width };
    let mut cols = vec![
        c("Tid (svensk tid)", 100.0),
        c("Vårdgivare", 110.0),
        c("Vårdenhet", 110.0),
    ];
    match d {
        StaffDisclosure::NameAndTitle => {
            cols.push(c("Användare", 115.0));
            cols.push(c("Befattning", 95.0));
        }
        StaffDisclosure::Title => cols.push(c("Befattning", 210.0)),
        StaffDisclosure::None => {}
    }
    cols.push(c("Ändamål", 95.0));
    let used: f32 = cols.iter().map(|c| c.width).sum();
    cols.push(c("Åtgärd", PAGE_W - 2.0 * MARGIN - used));
    cols
}

fn cells(x: &LogExtract, cols: usize) -> Vec<Vec<String>> {
    x.entries
        .iter()
        .map(|e| {
            let mut row = vec![
                e.local_time.clone(),
                e.care_provider.clone(),
                e.care_unit.clone().unwrap_or_else(|| "–".into()),
            ];
            match x.staff_disclosure {
                StaffDisclosure::NameAndTitle => {
                    row.push(e.user_name.clone().unwrap_or_else(|| "–".into()));
                    row.push(e.user_title.clone().unwrap_or_else(|| "–".into()));
                }
                StaffDisclosure::Title => {
                    row.push(e.user_title.clone().unwrap_or_else(|| "–".into()))
                }
                StaffDisclosure::None => {}
            }
            row.push(e.purpose.clone().unwrap_or_else(|| "–".into()));
            let mut action = e.action.to_owned();
            if e.emergency_access {
                action.push_str(" (nödåtkomst)");
            }
            row.push(action);
            debug_assert_eq!(row.len(), cols);
            row
        })
        .collect()
}

fn text(c: &mut Content, font: Name<'_>, size: f32, x: f32, y: f32, s: &str) {
    c.begin_text();
    c.set_font(font, size);
    c.next_line(x, y);
    c.show(Str(&winansi(s)));
    c.end_text();
}

fn table_header(c: &mut Content, cols: &[Column], top: f32) -> f32 {
    let h = LEADING + 6.0;
    c.set_fill_gray(0.88);
    c.rect(MARGIN, top - h, PAGE_W - 2.0 * MARGIN, h);
    c.fill_nonzero();
    c.set_fill_gray(0.0);
    let mut x = MARGIN + 3.0;
    for col in cols {
        text(c, BOLD, TABLE_SIZE, x, top - LEADING, col.title);
        x += col.width;
    }
    top - h
}

fn intro(x: &LogExtract) -> Vec<(String, String)> {
    let period = match (&x.from, &x.to) {
        (None, None) => "hela loggen".to_owned(),
        (f, t) => format!(
            "{} – {} (UTC)",
            f.as_deref().unwrap_or("loggens början"),
            t.as_deref().unwrap_or("utfärdandet")
        ),
    };
    let staff = match x.staff_disclosure {
        StaffDisclosure::None => "Vårdgivarens policy: användarnas namn och befattning visas inte.",
        StaffDisclosure::Title => "Vårdgivarens policy: användarnas befattning visas, inte namn.",
        StaffDisclosure::NameAndTitle => {
            "Vårdgivarens policy: användarnas namn och befattning visas."
        }
    };
    vec![
        ("Patient".into(), x.patient.clone()),
        ("Vårdgivare".into(), x.care_provider.clone()),
        ("Period".into(), period),
        (
            "Utfärdat".into(),
            format!("{} av {}", x.generated_at, x.generated_by),
        ),
        (
            "Antal åtkomster".into(),
            format!("{} — {staff}", x.entries.len()),
        ),
    ]
}

pub(super) fn render(x: &LogExtract) -> Vec<u8> {
    let cols = columns(x.staff_disclosure);
    let rows: Vec<Vec<Vec<String>>> = cells(x, cols.len())
        .into_iter()
        .map(|r| {
            r.iter()
                .zip(&cols)
                .map(|(s, c)| wrap(s, TABLE_SIZE, c.width - 6.0))
                .collect()
        })
        .collect();

    // Lay out the pages: (content, page number) built after counting.
    let mut pages: Vec<Content> = Vec::new();
    let mut c = Content::new();
    let mut y = PAGE_H - MARGIN;
    text(&mut c, BOLD, 18.0, MARGIN, y - 18.0, "Loggutdrag");
    text(
        &mut c,
        REGULAR,
        9.0,
        MARGIN + 110.0,
        y - 17.0,
        "Åtkomster till patientens inspelade samtal i callvault (patientdatalagen 8 kap. 4 §)",
    );
    y -= 36.0;
    for (k, v) in intro(x) {
        text(&mut c, BOLD, 9.5, MARGIN, y - 10.0, &format!("{k}:"));
        text(&mut c, REGULAR, 9.5, MARGIN + 95.0, y - 10.0, &v);
        y -= 13.0;
    }
    y -= 8.0;
    y = table_header(&mut c, &cols, y);
    if rows.is_empty() {
        text(
            &mut c,
            REGULAR,
            TABLE_SIZE,
            MARGIN + 3.0,
            y - LEADING,
            "Inga åtkomster under perioden.",
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let lines = row.iter().map(Vec::len).max().unwrap_or(1) as f32;
        let h = lines * LEADING + 4.0;
        if y - h < FOOTER_Y + 16.0 {
            pages.push(std::mem::replace(&mut c, Content::new()));
            y = table_header(&mut c, &cols, PAGE_H - MARGIN);
        }
        if i % 2 == 1 {
            c.set_fill_gray(0.96);
            c.rect(MARGIN, y - h, PAGE_W - 2.0 * MARGIN, h);
            c.fill_nonzero();
            c.set_fill_gray(0.0);
        }
        let mut cx = MARGIN + 3.0;
        for (cell, col) in row.iter().zip(&cols) {
            for (k, line) in cell.iter().enumerate() {
                text(
                    &mut c,
                    REGULAR,
                    TABLE_SIZE,
                    cx,
                    y - LEADING * (k as f32 + 1.0),
                    line,
                );
            }
            cx += col.width;
        }
        y -= h;
    }
    pages.push(c);

    let n = pages.len();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let page_ids: Vec<Ref> = (0..n).map(|i| Ref::new(6 + 2 * i as i32)).collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree).lang(TextStr("sv-SE"));
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(n as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    let now = time::OffsetDateTime::now_utc();
    pdf.document_info(info)
        .title(TextStr(&format!("Loggutdrag {}", x.care_provider)))
        .producer(TextStr("callvault"))
        .creation_date(
            Date::new(now.year().clamp(0, 9999) as u16)
                .month(now.month() as u8)
                .day(now.day())
                .hour(now.hour())
                .minute(now.minute())
                .second(now.second())
                .utc_offset_hour(0),
        );
    for (i, mut content) in pages.into_iter().enumerate() {
        let footer = format!(
            "Loggutdrag för {} hos {} — sida {} av {n}",
            x.patient,
            x.care_provider,
            i + 1
        );
        text(&mut content, REGULAR, 8.0, MARGIN, FOOTER_Y, &footer);
        let id = page_ids[i];
        let content_id = Ref::new(id.get() + 1);
        let mut page = pdf.page(id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swedish_letters_have_their_winansi_codes() {
        assert_eq!(
            winansi("åäöÅÄÖé"),
            [0xE5, 0xE4, 0xF6, 0xC5, 0xC4, 0xD6, 0xE9]
        );
        assert_eq!(winansi("a–b…"), [b'a', 0x96, b'b', 0x85]);
        assert_eq!(winansi("漢"), b"?");
    }

    #[test]
    fn wrapping_keeps_every_word_and_respects_the_width() {
        let s = "Läsning av uppgifter om samtalet (nödåtkomst) SE2321000016-1177";
        let lines = wrap(s, 8.5, 80.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| width(l, 8.5) <= 80.0), "{lines:?}");
        assert_eq!(lines.join(" ").replace(' ', ""), s.replace(' ', ""));
        assert_eq!(wrap("", 8.5, 80.0), [""]);
    }
}
