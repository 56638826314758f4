//! TLS to PostgreSQL, with libpq's `sslmode` meanings (rustls, aws-lc).
//!
//! - `disable`: plain TCP.
//! - `prefer` (the default) and `require`: encrypted, the server's certificate not checked
//!   (libpq's meaning: protection from eavesdropping, not from an impostor); `prefer` falls back
//!   to plain TCP when the server has no TLS, `require` refuses.
//! - `verify-ca`: also the certificate's chain to a trusted root; `verify-full`: also that it
//!   names the host connected to. As in libpq, `require` with an `sslrootcert` verifies the chain.
//! - `sslrootcert=PATH` names a PEM file of trusted roots; `sslrootcert=system` (or none given)
//!   uses the operating system's store.
//!
//! tokio-postgres knows only `disable`/`prefer`/`require` and refuses unknown parameters, so the
//! verifying modes and `sslrootcert` are taken off the URL here and given to the connector.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;
use trent_core::store::StoreError;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    Nothing,
    Chain,
    ChainAndName,
}

/// The URL for tokio-postgres and the TLS connector for it.
pub(crate) struct Tls {
    pub(crate) url: String,
    pub(crate) connector: MakeRustlsConnect,
}

fn invalid(what: String) -> StoreError {
    StoreError::Backend(format!("postgres: {what}"))
}

/// `s` with its `%XX` escapes decoded (a malformed one kept as it is).
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads Trent's TLS parameters off `url` and builds the connector.
pub(crate) fn configure(url: &str) -> Result<Tls, StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut verify = Verify::Nothing;
    let mut root_cert: Option<String> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (key, value) {
            ("sslmode", "verify-ca") => {
                verify = Verify::Chain;
                kept.push("sslmode=require".to_owned());
            }
            ("sslmode", "verify-full") => {
                verify = Verify::ChainAndName;
                kept.push("sslmode=require".to_owned());
            }
            ("sslrootcert", v) => root_cert = Some(percent_decode(v)),
            _ => kept.push(pair.to_owned()),
        }
    }
    let require = kept.iter().any(|p| p == "sslmode=require");
    if verify == Verify::Nothing && require && root_cert.is_some() {
        verify = Verify::Chain;
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = match verify {
        Verify::Nothing => None,
        Verify::Chain | Verify::ChainAndName => Some(
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(root_cert.as_deref())?),
                provider.clone(),
            )
            .build()
            .map_err(|e| invalid(format!("cannot build the certificate verifier: {e}")))?,
        ),
    };
    let verifier = Arc::new(Verifier {
        provider: provider.clone(),
        chain,
        check_name: verify == Verify::ChainAndName,
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Tls {
        url,
        connector: MakeRustlsConnect::new(config),
    })
}

/// The trusted roots: a PEM file, or the operating system's store.
fn roots(root_cert: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) if path != "system" => {
            let path = PathBuf::from(path);
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| invalid(format!("sslrootcert {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(invalid(format!(
                    "sslrootcert {}: no usable certificate",
                    path.display()
                )));
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(invalid(
                    "sslmode verify-ca/verify-full: no trusted roots in the system store; name a PEM file with sslrootcert=PATH".into(),
                ));
            }
        }
    }
    Ok(roots)
}

/// Checks the server's certificate as far as `sslmode` says: with `chain`, its chain by webpki
/// (and its name when `check_name`); without, any certificate is accepted (`prefer`/`require`,
/// libpq's meaning). The handshake's signatures are checked against the certificate either way.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trents_parameters_are_taken_off_the_url() {
        let t = configure("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fnone.pem");
        // The root file does not exist: refused, naming it.
        let Err(e) = t else { panic!("accepted") };
        assert!(e.to_string().contains("/tmp/none.pem"), "{e}");
        let t = configure("postgres://u@h/db?sslmode=require&application_name=x").unwrap();
        assert_eq!(
            t.url,
            "postgres://u@h/db?sslmode=require&application_name=x"
        );
        let t = configure("postgres://u@h/db").unwrap();
        assert_eq!(t.url, "postgres://u@h/db");
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
