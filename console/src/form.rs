//! Posted forms as name/value pairs: repeated names (`member`, `mailbox`) are all kept.

/// Most fields a form may hold: the biggest (a page of members selected) has a few hundred.
pub const MAX_FIELDS: usize = 2_000;

/// The fields of an `application/x-www-form-urlencoded` body (of any length: an import's
/// file is posted back whole); None past [`MAX_FIELDS`], decoded no further.
pub fn fields(raw: &[u8]) -> Option<Vec<(String, String)>> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(raw)
        .take(MAX_FIELDS + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (fields.len() <= MAX_FIELDS).then_some(fields)
}

/// The first value of `name`.
pub fn one<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of `name` that parses as a `T` (ids of the selected rows).
pub fn all<T: std::str::FromStr>(fields: &[(String, String)], name: &str) -> Vec<T> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

/// Percent-encodes a query-string value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_are_all_kept_and_odd_bytes_survive() {
        let f = fields(b"member=a&member=b&q=%E5%BC%A0+%26&csrf=").unwrap();
        assert_eq!(all::<String>(&f, "member"), ["a", "b"]);
        assert_eq!(one(&f, "q"), Some("张 &"));
        assert_eq!(one(&f, "csrf"), Some(""));
        assert_eq!(one(&f, "nope"), None);
        assert!(fields(b"%ZZ=%").unwrap().len() <= 1);
        assert_eq!(encode("张 &"), "%E5%BC%A0%20%26");
        // Longer than a URI may be.
        let long = format!("csv={}&csrf=x", "a".repeat(200_000));
        let f = fields(long.as_bytes()).unwrap();
        assert_eq!(one(&f, "csv").map(str::len), Some(200_000));
        assert_eq!(one(&f, "csrf"), Some("x"));
        // Two million little pairs are not decoded into two million strings.
        assert!(fields("a=1&".repeat(2_001).as_bytes()).is_none());
        assert!(fields("a=1&".repeat(2_000).as_bytes()).is_some());
    }
}
