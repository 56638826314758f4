//! TLS: rustls on the aws-lc-rs provider Trent already links, certificates re-read on SIGHUP
//! without dropping connections, and `trent dev-cert`, a local CA and server certificate for
//! development.
//!
//! The certificate in use sits behind an [`ArcSwap`]: a handshake reads whatever is current, so
//! a reload affects new connections only and never interrupts one in progress. A reload that
//! fails (a half-written file, a key that does not match the certificate) keeps the old pair
//! and says why in the log; the server never ends up without a certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of TLS for one listener.
#[derive(Clone)]
pub struct Tls {
    resolver: Arc<ReloadingCert>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.resolver.cert)
            .field("key", &self.resolver.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let current = load_pair(cert, key, &provider)?;
        let resolver = Arc::new(ReloadingCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider: provider.clone(),
            current: ArcSwap::from_pointee(current),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // HTTP/1.1 only, as the plain listener serves.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Re-reads the certificate and key files. On failure the current pair stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = load_pair(
            &self.resolver.cert,
            &self.resolver.key,
            &self.resolver.provider,
        )?;
        self.resolver.current.store(Arc::new(fresh));
        Ok(())
    }

    /// Completes the handshake on an accepted connection, within [`HANDSHAKE_TIMEOUT`].
    pub async fn accept<IO>(&self, io: IO) -> Result<TlsStream<IO>, String>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(io)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err("TLS handshake timed out".into()),
        }
    }

    /// Reloads the certificate on every SIGHUP, for the life of the process.
    pub fn reload_on_sighup(&self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            // Registered here, before this returns, not in the task: a SIGHUP that arrives
            // before the task first runs must find the handler, not the default disposition
            // (terminate).
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::error!("cannot listen for SIGHUP: certificates will not be reloaded");
                return;
            };
            let tls = self.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    match tls.reload() {
                        Ok(()) => tracing::info!("TLS certificate reloaded"),
                        Err(e) => tracing::error!(
                            cause = %e,
                            "TLS certificate reload failed; the previous certificate stays in use"
                        ),
                    }
                }
            });
        }
    }
}

#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM in TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {} holds no CERTIFICATE block",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read TLS private key {}: {e}", key.display()))?;
    let pair = CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        format!(
            "TLS certificate {} and key {} do not form a usable pair: {e}",
            cert.display(),
            key.display()
        )
    })?;
    // `from_der` lets an undecidable match through; a mismatch it can see is refused above.
    Ok(pair)
}

/// The files `trent dev-cert` writes.
#[derive(Debug)]
pub struct DevCert {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes a new local CA (`ca.pem`) and a server certificate for `localhost`, `127.0.0.1` and
/// `::1` signed by it (`cert.pem`, `key.pem`, the key 0600). The CA's private key is not kept:
/// nothing else can ever be signed by it, so trusting `ca.pem` trusts this one certificate.
pub fn dev_cert(out: &Path) -> Result<DevCert, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
    };
    let now = time::OffsetDateTime::now_utc();
    let err = |e: rcgen::Error| format!("cannot generate the development certificate: {e}");

    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Trent development CA");
    dn.push(DnType::OrganizationName, "Trent (development only)");
    ca.distinguished_name = dn;
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(825);
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().map_err(err)?;
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
    server.subject_alt_names.extend([
        SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ]);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    server.distinguished_name = dn;
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = now - time::Duration::days(1);
    server.not_after = now + time::Duration::days(825);
    let server_cert = server.signed_by(&server_key, &issuer).map_err(err)?;

    create_private_dir(out)?;
    let files = DevCert {
        ca: out.join("ca.pem"),
        cert: out.join("cert.pem"),
        key: out.join("key.pem"),
    };
    write_file(&files.ca, ca_cert.pem().as_bytes(), 0o644)?;
    write_file(&files.cert, server_cert.pem().as_bytes(), 0o644)?;
    write_file(&files.key, server_key.serialize_pem().as_bytes(), 0o600)?;
    Ok(files)
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // The mode above applies only to a new file; an existing key file is narrowed too.
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_cert_loads_and_matches_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let files = dev_cert(&dir.path().join("certs")).unwrap();
        let tls = Tls::load(&files.cert, &files.key).unwrap();
        tls.reload().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_and_reload_keeps_the_old_pair() {
        let dir = tempfile::tempdir().unwrap();
        let a = dev_cert(&dir.path().join("a")).unwrap();
        let b = dev_cert(&dir.path().join("b")).unwrap();
        let e = Tls::load(&a.cert, &b.key).unwrap_err();
        assert!(e.contains("do not form a usable pair"), "{e}");

        let tls = Tls::load(&a.cert, &a.key).unwrap();
        let before = tls.resolver.current.load_full();
        std::fs::copy(&b.key, &a.key).unwrap();
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&before, &tls.resolver.current.load_full()));
        std::fs::copy(&b.cert, &a.cert).unwrap();
        tls.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &tls.resolver.current.load_full()));
    }

    #[test]
    fn missing_or_empty_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = Tls::load(&empty, &empty).unwrap_err();
        assert!(e.contains("empty.pem"), "{e}");
        let e = Tls::load(&dir.path().join("nope.pem"), &empty).unwrap_err();
        assert!(e.contains("nope.pem"), "{e}");
    }
}
