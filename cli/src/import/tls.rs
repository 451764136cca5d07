//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert`, over rustls
//! with the aws-lc-rs provider the AWS SDK and reqwest already link (no
//! second crypto stack).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default, as in libpq) | if the server offers it, else plain | not checked, unless `sslrootcert` is given (then its chain is) |
//! | `require` | always | not checked, unless `sslrootcert` is given (then its chain is, as libpq does) |
//! | `verify-ca` | always | its chain, to `sslrootcert` or the system's roots |
//! | `verify-full` | always | its chain and that it names the host |
//!
//! `sslrootcert=PATH` is a PEM file of root certificates; absent or
//! `system`, the system's roots are used by the verifying modes (libpq
//! reads `~/.postgresql/root.crt` instead; this does not).
//!
//! SCRAM authentication over TLS binds the channel
//! (`tls-server-end-point`, RFC 5929) when the server's certificate is
//! signed with RSA PKCS#1 or ECDSA, so a server that offers
//! `SCRAM-SHA-256-PLUS` detects a man in the middle even when the
//! certificate itself is not checked.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::ImportError;

/// libpq's `sslmode`, less `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it.
    Prefer,
    /// TLS, the certificate not checked.
    Require,
    /// TLS, the certificate's chain checked.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

impl SslMode {
    /// As written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// The TLS settings of a `postgres://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert`: `None` for the system's roots.
    pub root_cert: Option<PathBuf>,
}

/// The largest `sslrootcert` file read.
const MAX_ROOT_FILE: u64 = 4 * 1024 * 1024;

/// Takes `sslmode` and `sslrootcert` out of `url`'s query (tokio-postgres
/// knows neither `verify-ca`, `verify-full` nor `sslrootcert`): the URL
/// left for tokio-postgres, and the settings.
pub fn split_url(url: &str) -> Result<(String, TlsSettings), ImportError> {
    // The query starts at the first `?` after the credentials, as
    // tokio-postgres reads it.
    let after_credentials = url.find('@').map_or(0, |at| at + 1);
    let Some(query_at) = url[after_credentials..]
        .find('?')
        .map(|q| q + after_credentials)
    else {
        return Ok((url.to_owned(), settings(None, None)?));
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in url[query_at + 1..].split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match decode(key).as_str() {
            "sslmode" => mode = Some(decode(value)),
            "sslrootcert" => root = Some(decode(value)),
            _ => kept.push(pair),
        }
    }
    let mut rest = url[..query_at].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, settings(mode.as_deref(), root)?))
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn settings(mode: Option<&str>, root: Option<String>) -> Result<TlsSettings, ImportError> {
    let system = root.as_deref() == Some("system");
    let mode = match mode {
        None if system => SslMode::VerifyFull,
        None | Some("prefer") => SslMode::Prefer,
        Some("disable") => SslMode::Disable,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some("allow") => {
            return Err(ImportError::Source(
                "sslmode=allow is not supported: use prefer, disable, require, verify-ca or \
                 verify-full"
                    .into(),
            ))
        }
        Some(other) => {
            return Err(ImportError::Source(format!(
                "sslmode={other} is not a libpq sslmode: use disable, prefer, require, \
                 verify-ca or verify-full"
            )))
        }
    };
    if system && mode != SslMode::VerifyFull {
        return Err(ImportError::Source(format!(
            "sslrootcert=system needs sslmode=verify-full, not {} (as in libpq)",
            mode.as_str()
        )));
    }
    let root_cert = root
        .filter(|path| !system && !path.is_empty())
        .map(PathBuf::from);
    Ok(TlsSettings { mode, root_cert })
}

/// The connector for `settings` (reads `sslrootcert` or the system's
/// roots where the mode checks certificates).
pub fn connector(settings: &TlsSettings) -> Result<MakeRustls, ImportError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let checks_chain = matches!(settings.mode, SslMode::VerifyCa | SslMode::VerifyFull)
        || settings.root_cert.is_some();
    let verifier: Arc<dyn ServerCertVerifier> = if checks_chain {
        let roots = Arc::new(roots(settings.root_cert.as_ref())?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| ImportError::Source(format!("TLS roots: {e}")))?;
        if settings.mode == SslMode::VerifyFull {
            webpki
        } else {
            Arc::new(ChainOnly(webpki))
        }
    } else {
        Arc::new(Unchecked(provider.clone()))
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImportError::Source(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // What PostgreSQL 17 asks of a direct TLS connection; older servers
    // ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustls(Arc::new(config)))
}

fn roots(path: Option<&PathBuf>) -> Result<RootCertStore, ImportError> {
    let mut store = RootCertStore::empty();
    match path {
        Some(path) => {
            use std::io::Read;
            let shown = path.display();
            let mut pem = Vec::new();
            std::fs::File::open(path)
                .and_then(|file| file.take(MAX_ROOT_FILE).read_to_end(&mut pem))
                .map_err(|e| ImportError::Source(format!("sslrootcert={shown}: {e}")))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| ImportError::Source(format!("sslrootcert={shown}: {e}")))?;
                store
                    .add(cert)
                    .map_err(|e| ImportError::Source(format!("sslrootcert={shown}: {e}")))?;
            }
            if store.is_empty() {
                return Err(ImportError::Source(format!(
                    "sslrootcert={shown} holds no PEM certificate"
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(ImportError::Source(
                    "no system root certificates found: give sslrootcert=PATH".into(),
                ));
            }
        }
    }
    Ok(store)
}

/// `require` and `prefer` without roots: TLS, the certificate taken as it
/// is (the handshake's signatures are still checked).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain to a root, whatever host the certificate names
/// (webpki checks the chain before the name, so only a good chain reaches
/// the name).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// tokio-postgres's TLS over rustls.
#[derive(Clone)]
pub struct MakeRustls(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    /// A name that is not one (`""` for a Unix socket, where `prefer`
    /// goes plain) fails only if a handshake is attempted.
    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            config: self.0.clone(),
            name: ServerName::try_from(domain).map(|name| name.to_owned()),
        })
    }
}

/// One connection's handshake.
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: Result<ServerName<'static>, rustls::pki_types::InvalidDnsNameError>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self
                .name
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let connector = tokio_rustls::TlsConnector::from(self.config);
            Ok(RustlsStream(connector.connect(name, stream).await?))
        })
    }
}

/// A TLS connection to the server.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, connection) = self.0.get_ref();
        connection
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| server_end_point(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// RFC 5929's `tls-server-end-point`: the certificate hashed with its
/// signature's hash (SHA-256 for MD5 and SHA-1); `None` for a signature
/// the RFC leaves undefined (Ed25519, RSA-PSS) or a certificate that does
/// not parse.
fn server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let (certificate, _) = der(cert, SEQUENCE)?;
    let (_, rest) = der(certificate, SEQUENCE)?; // tbsCertificate
    let (algorithm, _) = der(rest, SEQUENCE)?;
    let (oid, _) = der(algorithm, OID)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    let hash = match (oid.split_last()?, oid) {
        (_, ECDSA_SHA1) => 256,
        ((4 | 5 | 11, head), _) if head == RSA => 256,
        ((12, head), _) if head == RSA => 384,
        ((13, head), _) if head == RSA => 512,
        ((2, head), _) if head == ECDSA_SHA2 => 256,
        ((3, head), _) if head == ECDSA_SHA2 => 384,
        ((4, head), _) if head == ECDSA_SHA2 => 512,
        _ => return None,
    };
    Some(match hash {
        256 => sha2::Sha256::digest(cert).to_vec(),
        384 => sha2::Sha384::digest(cert).to_vec(),
        _ => sha2::Sha512::digest(cert).to_vec(),
    })
}

/// One DER element tagged `tag` at the start of `input`: its contents and
/// what follows it.
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let (bytes, rest) = rest.split_at_checked(usize::from(first & 0x7f))?;
        if bytes.is_empty() || bytes.len() > 4 {
            return None;
        }
        let length = bytes.iter().try_fold(0usize, |n, b| {
            n.checked_mul(256)?.checked_add(usize::from(*b))
        })?;
        (length, rest)
    };
    rest.split_at_checked(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> Result<(String, TlsSettings), String> {
        split_url(url).map_err(|e| e.to_string())
    }

    #[test]
    fn the_tls_parameters_leave_the_url_and_the_others_stay() {
        let (rest, tls) = split(
            "postgres://u:p%3Fw@h:5432/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p%3Fw@h:5432/db?application_name=x&connect_timeout=5"
        );
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/tmp/ca.pem")));
        let (rest, tls) = split("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgres://u@h/db", SslMode::Require)
        );
    }

    #[test]
    fn without_sslmode_tls_is_preferred_as_in_libpq() {
        let (rest, tls) = split("postgres://u@h/db").unwrap();
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgres://u@h/db", SslMode::Prefer)
        );
        assert_eq!(tls.root_cert, None);
        let (_, tls) = split("postgres://u@h/db?sslrootcert=system").unwrap();
        assert_eq!((tls.mode, tls.root_cert), (SslMode::VerifyFull, None));
    }

    #[test]
    fn an_unknown_or_unsupported_sslmode_is_named() {
        let e = split("postgres://u:pw@h/db?sslmode=verify_full").unwrap_err();
        assert!(
            e.contains("sslmode=verify_full") && e.contains("verify-full"),
            "{e}"
        );
        assert!(!e.contains("pw"), "{e}");
        let e = split("postgres://u@h/db?sslmode=allow").unwrap_err();
        assert!(e.contains("sslmode=allow is not supported"), "{e}");
        let e = split("postgres://u@h/db?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("no-certs-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(path.clone()),
        };
        let e = connector(&settings).err().unwrap().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn der_lengths_that_do_not_fit_are_refused() {
        assert_eq!(
            der(&[0x30, 0x03, 1, 2, 3, 4], 0x30),
            Some((&[1, 2, 3][..], &[4][..]))
        );
        assert_eq!(
            der(&[0x30, 0x81, 0x02, 7, 8], 0x30),
            Some((&[7, 8][..], &[][..]))
        );
        assert_eq!(der(&[0x30, 0x05, 1], 0x30), None);
        assert_eq!(der(&[0x30, 0x80], 0x30), None);
        assert_eq!(der(&[0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1], 0x30), None);
        assert_eq!(der(&[0x02, 0x00], 0x30), None);
        assert_eq!(
            server_end_point(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
