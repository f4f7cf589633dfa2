//! Conversions between OpenSSL's ASN.1 times and `time::OffsetDateTime`.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::error::ErrorStack;
use time::OffsetDateTime;

/// Converts an ASN.1 time (UTCTime or GeneralizedTime) to a UTC `OffsetDateTime`.
pub fn asn1_to_datetime(t: &Asn1TimeRef) -> Result<OffsetDateTime, ErrorStack> {
    let epoch = Asn1Time::from_unix(0)?;
    let diff = epoch.diff(t)?;
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    // ASN.1 times are bounded to years 0000..=9999, well inside OffsetDateTime's range.
    Ok(OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Converts a `OffsetDateTime` to an ASN.1 time (second precision).
pub fn datetime_to_asn1(t: OffsetDateTime) -> Result<Asn1Time, ErrorStack> {
    Asn1Time::from_unix(unix_seconds(t))
}

/// Seconds since the Unix epoch, as OpenSSL's `time_t`.
pub fn unix_seconds(t: OffsetDateTime) -> libc_time_t {
    t.unix_timestamp() as libc_time_t
}

/// OpenSSL's `time_t` on every platform we build for.
#[allow(non_camel_case_types)]
pub type libc_time_t = i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_asn1() {
        let t = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let asn1 = datetime_to_asn1(t).unwrap();
        assert_eq!(asn1_to_datetime(&asn1).unwrap(), t);
        let before_epoch = OffsetDateTime::from_unix_timestamp(-86_400 * 400 - 5).unwrap();
        assert_eq!(
            asn1_to_datetime(&datetime_to_asn1(before_epoch).unwrap()).unwrap(),
            before_epoch
        );
    }
}
