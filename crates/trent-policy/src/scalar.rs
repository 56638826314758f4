//! The typed values conditions compare: numbers, dates (ISO 8601 or epoch seconds), booleans
//! and IP ranges, each read from text the same way whether it comes from a policy (at parse
//! time) or from a request (at evaluation time).

use std::net::IpAddr;

/// A decimal or integer number: optional sign, digits, optional fraction, optional exponent.
/// Words such as `inf` or `NaN`, which Rust's float parser accepts, are refused.
pub(crate) fn number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mantissa = digits.split(['e', 'E']).next().unwrap_or("");
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let ok = match mantissa.split_once('.') {
        Some((int, frac)) => plain(int) && plain(frac) && !(int.is_empty() && frac.is_empty()),
        None => !mantissa.is_empty() && plain(mantissa),
    };
    if !ok {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `true` or `false`, in any letter case.
pub(crate) fn boolean(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A point in time as milliseconds since the Unix epoch (UTC). Accepts epoch seconds (with an
/// optional fraction) and ISO 8601: `YYYY-MM-DD`, optionally followed by `T` (or a space) and
/// `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fff`, then `Z`, `±hh:mm`, `±hhmm` or nothing (UTC).
pub(crate) fn date(text: &str) -> Option<i64> {
    if let Some(seconds) = number(text) {
        if !text.contains(['e', 'E']) {
            let ms = seconds * 1000.0;
            return (ms.abs() < 1e17).then_some(ms.round() as i64);
        }
    }
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if rest[0] != b'T' && rest[0] != b't' && rest[0] != b' ' {
        return None;
    }
    let rest = &rest[1..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let hour = digits(&rest[0..2])?;
    let minute = digits(&rest[3..5])?;
    let mut rest = &rest[5..];
    let mut second = 0;
    let mut millis = 0;
    if rest.first() == Some(&b':') {
        second = digits(rest.get(1..3)?)?;
        rest = &rest[3..];
        if rest.first() == Some(&b'.') {
            let frac_len = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if frac_len == 0 {
                return None;
            }
            let frac = &rest[1..1 + frac_len];
            // milliseconds: the first three digits, padded
            for i in 0..3 {
                millis = millis * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
            }
            rest = &rest[1 + frac_len..];
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    let offset_minutes = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (h, m) = match zone {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    Some(ms - offset_minutes * 60_000)
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An IPv4 or IPv6 range in CIDR notation; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
        };
        Some(Cidr { network, prefix })
    }

    /// Whether the request's address (text) lies in the range. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) counts as its IPv4 address.
    pub(crate) fn contains(&self, text: &str) -> bool {
        let Ok(addr) = text.parse::<IpAddr>() else {
            return false;
        };
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => same_prefix(
                u128::from(u32::from(net)),
                u128::from(u32::from(a)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                same_prefix(u128::from(net), u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(net: u128, addr: u128, bits: u32, prefix: u8) -> bool {
    let host_bits = bits - u32::from(prefix);
    if host_bits >= bits {
        return true;
    }
    (net >> host_bits) == (addr >> host_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number("10"), Some(10.0));
        assert_eq!(number("-1.5"), Some(-1.5));
        assert_eq!(number("1546257599.0"), Some(1546257599.0));
        assert_eq!(number("1e3"), Some(1000.0));
        assert_eq!(number(".5"), Some(0.5));
        for bad in ["", "inf", "NaN", "1.2.3", "ten", "1,0", "."] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean("true"), Some(true));
        assert_eq!(boolean("FALSE"), Some(false));
        assert_eq!(boolean("yes"), None);
    }

    #[test]
    fn dates_in_every_accepted_form() {
        let noon = 1_563_278_400_000; // 2019-07-16T12:00:00Z
        assert_eq!(date("2019-07-16T12:00:00Z"), Some(noon));
        assert_eq!(date("2019-07-16T12:00Z"), Some(noon));
        assert_eq!(date("2019-07-16T12:00:00.000Z"), Some(noon));
        assert_eq!(date("2019-07-16T12:00:00.25Z"), Some(noon + 250));
        assert_eq!(date("2019-07-16T14:00:00+02:00"), Some(noon));
        assert_eq!(date("2019-07-16T07:00:00-0500"), Some(noon));
        assert_eq!(date("2019-07-16T12:00:00"), Some(noon));
        assert_eq!(date("2019-07-16"), Some(noon - 12 * 3_600_000));
        assert_eq!(date("1563278400"), Some(noon));
        assert_eq!(date("1563278400.5"), Some(noon + 500));
        assert_eq!(date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(date("2000-02-29"), Some(951_782_400_000));
        for bad in [
            "",
            "2019-13-01",
            "2019-02-30",
            "2019-07-16T25:00:00Z",
            "2019-07-16T12",
            "yesterday",
            "2019-07-16T12:00:00X",
            "2019-07-16T12:00:00.Z",
            "1e9",
            "2019-07-16T12:00:00+2",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidr_ranges_v4_and_v6() {
        let net = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(net.contains("203.0.113.7"));
        assert!(!net.contains("203.0.114.7"));
        assert!(net.contains("::ffff:203.0.113.9"));
        assert!(!net.contains("2001:db8::1"));
        assert!(!net.contains("not an ip"));
        let one = Cidr::parse("10.0.0.1").unwrap();
        assert!(one.contains("10.0.0.1"));
        assert!(!one.contains("10.0.0.2"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8"));
        let v6 = Cidr::parse("2001:DB8:1234:5678::/64").unwrap();
        assert!(v6.contains("2001:db8:1234:5678::abcd"));
        assert!(!v6.contains("2001:db8:1234:5679::1"));
        assert!(!v6.contains("203.0.113.7"));
        assert!(Cidr::parse("::/0").unwrap().contains("::1"));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "::/129",
            "x/8",
            "10.0.0.0/+8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
