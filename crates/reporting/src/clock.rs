//! Times as the reports and pages show them: RFC 3339 in UTC for machines, Swedish local
//! time for people.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime};

/// RFC 3339 (as stored in events and exchanged in JSON, CSV and FHIR).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Last Sunday of a month, 01:00 UTC: when EU summer time starts (March) or ends (October).
fn eu_switch(year: i32, month: Month) -> OffsetDateTime {
    let last = Date::from_calendar_date(year, month, month.length(year))
        .unwrap_or(Date::MIN)
        .midnight();
    let back = i64::from(last.weekday().number_days_from_sunday());
    (last - Duration::days(back) + Duration::hours(1)).assume_utc()
}

/// Swedish local time (Europe/Stockholm: CET, and CEST between the last Sundays of March
/// and October at 01:00 UTC, the EU rule in force since 1996).
pub fn swedish_local(t: OffsetDateTime) -> PrimitiveDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let summer = t >= eu_switch(t.year(), Month::March) && t < eu_switch(t.year(), Month::October);
    let local = t + Duration::hours(if summer { 2 } else { 1 });
    PrimitiveDateTime::new(local.date(), local.time())
}

/// Swedish local time to the second, `YYYY-MM-DD HH:MM:SS` (reports and log extracts).
pub fn local_seconds(t: OffsetDateTime) -> String {
    swedish_local(t)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// Swedish local time to the minute, `YYYY-MM-DD HH:MM`: the web pages' one time format.
pub fn local_minutes(t: OffsetDateTime) -> String {
    swedish_local(t)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]"
        ))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn swedish_time_follows_the_eu_summer_time_rule() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(
            local_minutes(datetime!(2026-03-29 00:59 UTC)),
            "2026-03-29 01:59"
        );
        assert_eq!(
            local_minutes(datetime!(2026-03-29 01:00 UTC)),
            "2026-03-29 03:00"
        );
        assert_eq!(
            local_seconds(datetime!(2026-10-25 00:59:30 UTC)),
            "2026-10-25 02:59:30"
        );
        assert_eq!(
            local_seconds(datetime!(2026-10-25 01:00:00 UTC)),
            "2026-10-25 02:00:00"
        );
        assert_eq!(
            rfc3339(datetime!(2026-12-07 23:58:36 UTC)),
            "2026-12-07T23:58:36Z"
        );
    }
}
