//! STS `GetCallerIdentity` on the KMS endpoint, so `aws sts get-caller-identity --endpoint-url`
//! tells a user who Trent thinks they are: AWS's query protocol (a form body
//! `Action=GetCallerIdentity&Version=2011-06-15`, SigV4 scope service `sts`), answered in XML
//! as STS shapes it. No permission is needed (AWS: an explicit deny does not block it).
//!
//! Owns the request's recognition and the XML; the signature is verified by the server with
//! [`SIGNING_SERVICE`].

use percent_encoding::percent_decode_str;
use trent_core::Principal;

/// The SigV4 signing name of STS.
pub const SIGNING_SERVICE: &str = "sts";
/// The only API version served.
pub const API_VERSION: &str = "2011-06-15";
/// STS answers in XML.
pub const CONTENT_TYPE: &str = "text/xml";
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Whether a request is signed for STS: its SigV4 credential scope names the `sts` service.
pub fn is_sts_request(authorization: Option<&str>) -> bool {
    // The fourth `/`-separated element of the credential (`key/date/region/service/...`),
    // within its `,`-delimited component.
    authorization
        .and_then(|a| a.split_once("Credential="))
        .and_then(|(_, c)| c.split(',').next())
        .and_then(|c| c.split('/').nth(3))
        == Some(SIGNING_SERVICE)
}

/// An STS error: HTTP status, code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl StsError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        StsError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `<ErrorResponse>` as STS renders it.
    pub fn body(&self, request_id: &str) -> String {
        let kind = if self.status < 500 {
            "Sender"
        } else {
            "Receiver"
        };
        format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            self.code,
            xml_escape(&self.message),
            xml_escape(request_id)
        )
    }
}

/// Checks that a form body asks for GetCallerIdentity in the served version.
pub fn check_request(body: &[u8]) -> Result<(), StsError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| StsError::new(400, "MalformedInput", "The request body is not text."))?;
    let value = |name: &str| {
        text.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k) == name).then(|| decode(v))
        })
    };
    match value("Action").as_deref() {
        Some("GetCallerIdentity") => {}
        Some(other) => {
            return Err(StsError::new(
                400,
                "InvalidAction",
                format!("Could not find operation {other} for version {API_VERSION}"),
            ))
        }
        None => return Err(StsError::new(400, "MissingAction", "Missing Action")),
    }
    if value("Version").as_deref() != Some(API_VERSION) {
        return Err(StsError::new(
            400,
            "InvalidAction",
            format!("Could not find operation GetCallerIdentity for the requested version; {API_VERSION} is served"),
        ));
    }
    Ok(())
}

/// The `GetCallerIdentityResponse` document for `principal`.
pub fn get_caller_identity(principal: &Principal, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml_escape(principal.arn()),
        xml_escape(principal.userid()),
        xml_escape(principal.account()),
        xml_escape(request_id)
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_sts_scope() {
        assert!(is_sts_request(Some(
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"
        )));
        assert!(!is_sts_request(Some(
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00"
        )));
        assert!(!is_sts_request(None));
        // The service is the credential's own fourth element, not one past its end.
        assert!(!is_sts_request(Some(
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1,sts/x, SignedHeaders=host, Signature=00"
        )));
        assert!(!is_sts_request(Some(
            "AWS4-HMAC-SHA256 Credential=AK/20260101/sts, SignedHeaders=a/b/c/sts, Signature=00"
        )));
    }

    #[test]
    fn checks_action_and_version() {
        assert!(check_request(b"Action=GetCallerIdentity&Version=2011-06-15").is_ok());
        assert_eq!(
            check_request(b"Action=AssumeRole&Version=2011-06-15")
                .unwrap_err()
                .code,
            "InvalidAction"
        );
        assert_eq!(
            check_request(b"Version=2011-06-15").unwrap_err().code,
            "MissingAction"
        );
    }

    #[test]
    fn answers_in_sts_xml() {
        let p =
            Principal::parse("arn:aws:iam::111122223333:user/alice", "111122223333", "AK").unwrap();
        let xml = get_caller_identity(&p, "r-1");
        assert!(xml.contains("<Arn>arn:aws:iam::111122223333:user/alice</Arn>"));
        assert!(xml.contains("<Account>111122223333</Account>"));
        assert!(xml.contains(&format!("<UserId>{}</UserId>", p.userid())));
        assert!(xml.contains("<RequestId>r-1</RequestId>"));
    }
}
