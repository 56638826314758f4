//! RPC parameters: the query string and an `application/x-www-form-urlencoded` body, decoded
//! once into one map. Alibaba's SDKs put most parameters in the query and a few in the body;
//! both are signed (the RPC signature covers both, ACS3 covers the query directly and the body
//! by its hash), so the handlers see them as one set.

use std::collections::BTreeMap;

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::AliyunError;

/// RFC 3986 unreserved characters stay; everything else is `%XX` with upper-case hex. Both
/// Alibaba signatures canonicalise with exactly this.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes as Alibaba's signatures require (`' '` → `%20`, `*` → `%2A`, `~` kept).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The decoded parameters of one request.
#[derive(Clone, Default)]
pub struct Params {
    /// Query parameters alone, in arrival order (ACS3 signs these and not the body).
    query: Vec<(String, String)>,
    /// Query and body parameters together.
    all: BTreeMap<String, String>,
}

/// Parameter values can hold plaintexts: only names are shown.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.all.keys()).finish()
    }
}

fn decode_component(raw: &str) -> Option<String> {
    // Form encoding (Python's urlencode, which the SDKs use) writes a space as '+'.
    let bytes = raw.replace('+', " ");
    percent_decode(bytes.as_bytes())
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn decode_pairs(raw: &str) -> Result<Vec<(String, String)>, AliyunError> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        // A name without '=' is a parameter with an empty value; empty values are signed.
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (decode_component(name), decode_component(value)) {
            (Some(n), Some(v)) => out.push((n, v)),
            _ => {
                return Err(AliyunError::bad_request(
                    "InvalidParameter",
                    "The request contains a parameter that is not valid UTF-8 percent-encoding.",
                ))
            }
        }
    }
    Ok(out)
}

impl Params {
    /// Decodes the query and, when given, a form body. A name that appears twice is refused:
    /// which of two values was signed and which is acted on must never be ambiguous.
    pub fn parse(query: &str, form_body: Option<&[u8]>) -> Result<Self, AliyunError> {
        let query = decode_pairs(query)?;
        let body = match form_body {
            Some(b) => decode_pairs(std::str::from_utf8(b).map_err(|_| {
                AliyunError::bad_request("InvalidParameter", "The request body is not valid UTF-8.")
            })?)?,
            None => Vec::new(),
        };
        let mut all = BTreeMap::new();
        for (name, value) in query.iter().chain(body.iter()) {
            if all.insert(name.clone(), value.clone()).is_some() {
                return Err(AliyunError::bad_request(
                    "InvalidParameter",
                    format!("The parameter \"{name}\" appears more than once."),
                ));
            }
        }
        Ok(Self { query, all })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.all.get(name).map(String::as_str)
    }

    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// Every parameter, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.all.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A list parameter as RPC flattens it: `Name.1`, `Name.2`, … for a list of strings and
    /// `Name.1.Field`, … for a list of objects (what both Python SDKs send). One map per element,
    /// in index order, from field (`""` for a plain element) to value. Indices must be 1, 2, …
    /// without gaps or leading zeros: anything else under `Name.` is refused, never dropped.
    pub fn indexed(&self, name: &str) -> Result<Vec<BTreeMap<&str, &str>>, AliyunError> {
        let prefix = format!("{name}.");
        let mut elements: BTreeMap<usize, BTreeMap<&str, &str>> = BTreeMap::new();
        for (key, value) in self.all.range(prefix.clone()..) {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            let well_formed = !index.is_empty()
                && !index.starts_with('0')
                && index.bytes().all(|b| b.is_ascii_digit());
            let index = well_formed
                .then(|| index.parse::<usize>().ok())
                .flatten()
                .ok_or_else(|| AliyunError::invalid(key))?;
            elements.entry(index).or_default().insert(field, value);
        }
        if !elements.keys().copied().eq(1..=elements.len()) {
            return Err(AliyunError::invalid(&format!("{name}.N")));
        }
        Ok(elements.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_alibaba_signs() {
        assert_eq!(encode("a b*~/+&=中"), "a%20b%2A~%2F%2B%26%3D%E4%B8%AD");
    }

    #[test]
    fn merges_query_and_body_keeping_empty_values() {
        let p = Params::parse("A=1&SignatureType=&B=x+y%2Bz", Some(b"C=%7B%7D")).unwrap();
        assert_eq!(p.get("A"), Some("1"));
        assert_eq!(p.get("SignatureType"), Some(""));
        assert_eq!(p.get("B"), Some("x y+z"));
        assert_eq!(p.get("C"), Some("{}"));
        assert_eq!(p.query().len(), 3);
    }

    #[test]
    fn flattened_lists_in_index_order() {
        let p = Params::parse(
            "ResourceId.2=b&ResourceId.1=a&ResourceIds=x&Tag.1.Key=k&Tag.1.Value=v&Tag.10.Key=j",
            None,
        )
        .unwrap();
        let ids: Vec<&str> = p
            .indexed("ResourceId")
            .unwrap()
            .iter()
            .map(|e| e[""])
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(p.indexed("Missing").unwrap().is_empty());
        // Tag.10 without Tag.2..Tag.9 is a gap.
        assert!(p.indexed("Tag").is_err());
        let p = Params::parse("Tag.1.Key=k&Tag.1.Value=v&Tag.2.Key=j", None).unwrap();
        let tags = p.indexed("Tag").unwrap();
        assert_eq!((tags[0]["Key"], tags[0]["Value"]), ("k", "v"));
        assert_eq!(tags[1].get("Value"), None);
        for bad in ["T.0=a", "T.01=a", "T.x=a", "T.=a", "T.%2B1=a"] {
            assert!(
                Params::parse(bad, None).unwrap().indexed("T").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_duplicates_and_bad_encoding() {
        assert!(Params::parse("A=1&A=2", None).is_err());
        assert!(Params::parse("A=1", Some(b"A=2")).is_err());
        assert!(Params::parse("A=%FF", None).is_err());
    }
}
