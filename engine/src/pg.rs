//! PostgreSQL connections, shared by the postgres state backend and the postgres provider:
//! URL parsing with libpq's `sslmode` values (including `verify-ca` and `verify-full`, which
//! tokio-postgres alone does not know), TLS through rustls, and messages that never contain
//! the URL or its password.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
pub use tokio_postgres::Client;

/// libpq's `sslmode`. `prefer` and `require` encrypt without checking the certificate (as
/// libpq does); `verify-ca` checks the chain; `verify-full` also checks the host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const NAMES: &'static [&'static str] =
        &["disable", "prefer", "require", "verify-ca", "verify-full"];

    pub fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// A server to connect to: a parsed URL plus TLS settings. Debug output hides the password.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    sslmode: SslMode,
    root_cert: Option<PathBuf>,
    /// Texts that must never appear in a message: the URL and the password.
    hidden: Vec<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Target {
    /// Parses a `postgres://…` URL (or a `key=value` connection string). `sslmode` and
    /// `sslrootcert` given here override those of the URL; the default is `prefer`.
    pub fn parse(
        url: &str,
        sslmode: Option<SslMode>,
        root_cert: Option<&Path>,
    ) -> Result<Target, String> {
        let mut hidden = vec![url.to_owned()];
        let (rest, url_sslmode, url_root) = take_tls_options(url)?;
        let config: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
            redact(
                &format!("invalid PostgreSQL URL: {e} (the URL itself is not shown)"),
                &hidden,
            )
        })?;
        if let Some(password) = config.get_password() {
            let password = String::from_utf8_lossy(password).into_owned();
            if !password.is_empty() {
                hidden.push(percent_encode(&password));
                hidden.push(password);
            }
        }
        if config.get_hosts().is_empty() {
            return Err("the PostgreSQL URL names no host".to_owned());
        }
        let mut target = Target {
            config,
            sslmode: sslmode.or(url_sslmode).unwrap_or(SslMode::Prefer),
            root_cert: root_cert.map(Path::to_path_buf).or(url_root),
            hidden,
        };
        if target.config.get_connect_timeout().is_none() {
            target.config.connect_timeout(Duration::from_secs(15));
        }
        if target.config.get_application_name().is_none() {
            target.config.application_name("obp");
        }
        Ok(target)
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Target {
        let mut target = self.clone();
        target.config.dbname(database);
        target
    }

    /// The database the URL names (`postgres` when it names none).
    pub fn database(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_owned()
    }

    /// The user the URL logs in as.
    pub fn user(&self) -> Option<&str> {
        self.config.get_user()
    }

    /// `host:port/database`, for messages (no user, no password).
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "?".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}/{}", self.database())
    }

    /// Removes the URL and password from a message.
    pub fn redact(&self, message: &str) -> String {
        redact(message, &self.hidden)
    }

    /// A message for a failed operation, without secrets: the server's own words (with its
    /// SQLSTATE) for database errors.
    pub fn error(&self, error: &tokio_postgres::Error) -> String {
        self.redact(&describe_error(error))
    }

    /// Opens a connection; its driver task runs on the current Tokio runtime.
    pub async fn connect(&self) -> Result<Client, String> {
        let mut config = self.config.clone();
        let fail = |e: tokio_postgres::Error| {
            format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.describe(),
                self.error(&e)
            )
        };
        if self.sslmode == SslMode::Disable {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(fail)?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            return Ok(client);
        }
        config.ssl_mode(if self.sslmode == SslMode::Prefer {
            tokio_postgres::config::SslMode::Prefer
        } else {
            tokio_postgres::config::SslMode::Require
        });
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
        let (client, connection) = config.connect(tls).await.map_err(fail)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.sslmode {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => {
                Arc::new(EncryptOnly { provider })
            }
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(self.roots()?);
                let webpki =
                    rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                        .build()
                        .map_err(|e| format!("TLS setup failed: {e}"))?;
                if self.sslmode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly { inner: webpki })
                }
            }
        };
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// The trusted roots: `sslrootcert` when given, else the system's store.
    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read sslrootcert `{}`: {e}", path.display()))?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        format!("cannot read sslrootcert `{}`: {e}", path.display())
                    })?;
                    roots.add(cert).map_err(|e| {
                        format!(
                            "sslrootcert `{}` holds a bad certificate: {e}",
                            path.display()
                        )
                    })?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        if roots.is_empty() {
            return Err(
                "no trusted certificates for sslmode verify-ca/verify-full: set `sslrootcert`"
                    .to_owned(),
            );
        }
        Ok(roots)
    }
}

/// Splits `sslmode` and `sslrootcert` off a URL's query (or a key=value string).
fn take_tls_options(url: &str) -> Result<(String, Option<SslMode>, Option<PathBuf>), String> {
    let mut sslmode = None;
    let mut root = None;
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => {
                sslmode = Some(SslMode::parse(value).ok_or_else(|| {
                    format!(
                        "unknown sslmode `{value}` (known: {})",
                        SslMode::NAMES.join(", ")
                    )
                })?);
                Ok(true)
            }
            "sslrootcert" => {
                root = Some(PathBuf::from(percent_decode(value)));
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), None, None));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, value)? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, sslmode, root));
    }
    let mut kept = Vec::new();
    for word in url.split_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        if !take(key, value)? {
            kept.push(word);
        }
    }
    Ok((kept.join(" "), sslmode, root))
}

fn redact(message: &str, hidden: &[String]) -> String {
    let mut out = message.to_owned();
    let mut hidden: Vec<&String> = hidden.iter().filter(|h| h.len() >= 3).collect();
    // Longest first, so the URL goes before the password inside it.
    hidden.sort_by_key(|h| std::cmp::Reverse(h.len()));
    for text in hidden {
        out = out.replace(text.as_str(), "(hidden)");
    }
    out
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server's message with its SQLSTATE, detail and hint; other errors as they print.
pub fn describe_error(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            let inner_text = inner.to_string();
            if !text.contains(&inner_text) {
                text.push_str(": ");
                text.push_str(&inner_text);
            }
            source = inner.source();
        }
        return text;
    };
    let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    text
}

/// The SQLSTATE of a database error.
pub fn sqlstate(error: &tokio_postgres::Error) -> Option<&str> {
    error.code().map(|c| c.code())
}

/// `sslmode` prefer/require: encryption without certificate checks (libpq's behaviour); the
/// handshake signatures are still verified.
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
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
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `"name"` with inner double quotes doubled. Callers validate names first; NUL cannot be
/// quoted and is refused there.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal as libpq's `PQescapeLiteral` writes it: quotes doubled, and with
/// backslashes doubled under `E'…'` when there are any (safe whatever
/// `standard_conforming_strings` is).
pub fn quote_literal(text: &str) -> String {
    let body = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_from_the_url() {
        let (rest, mode, root) = take_tls_options(
            "postgres://u:p@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(mode, Some(SslMode::VerifyFull));
        assert_eq!(root, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(take_tls_options("postgres://h/db?sslmode=bogus").is_err());
        let (rest, mode, _) = take_tls_options("host=h sslmode=disable user=u").unwrap();
        assert_eq!(rest, "host=h user=u");
        assert_eq!(mode, Some(SslMode::Disable));
    }

    #[test]
    fn messages_never_show_the_password() {
        let target =
            Target::parse("postgres://admin:s3cr%3Dt@db.example:5433/app", None, None).unwrap();
        assert_eq!(target.describe(), "db.example:5433/app");
        assert_eq!(
            target.redact("failed for s3cr=t and s3cr%3Dt"),
            "failed for (hidden) and (hidden)"
        );
        assert_eq!(format!("{target:?}"), "db.example:5433/app");
        let error = Target::parse("postgres://admin:pw@host:notaport/x", None, None).unwrap_err();
        assert!(!error.contains("pw@"), "{error}");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
    }
}
