//! The process's one TLS client configuration: rustls on *ring*, trusting the system's roots,
//! read and parsed once and shared by every HTTPS client (the SDK's, `adapters::sdk`, and
//! Gigastore's).
//!
//! Why not each client loading the roots itself (rustls-native-certs): the SDK's client decoded
//! the bundle once but parsed every certificate again for each connector it made (one per SDK
//! client, thrown away, and one per timeout setting), and Gigastore's client read, decoded and
//! parsed the files once more. With the system's ~140 roots, that and the SDK's credential
//! chain were about a fifth of init's CPU (BENCHMARKS.md). Here the files are read once, in
//! small pieces, and decoded with a plain base64 decoder.
//!
//! Which roots: the ones rustls-native-certs trusts, found the same way: `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` (`:`-separated) when either is set, otherwise the files and directories
//! openssl-probe finds. Every `CERTIFICATE` block of those files, deduplicated; a block or file
//! that cannot be read is logged and skipped, never fatal.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use base64::Engine;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::{CipherSuite, ClientConfig, RootCertStore};

/// rustls could not be set up with *ring* (not expected: the protocol versions are its own).
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS could not be set up")]
pub struct TlsSetupError(#[source] rustls::Error);

/// The configuration, built on first use. No ALPN: each client sets its own on its copy
/// (copies share the trust store and the session cache).
static CONFIG: LazyLock<Result<Arc<ClientConfig>, TlsSetupError>> = LazyLock::new(|| {
    let config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError)?
        .with_root_certificates(Arc::clone(&ROOTS))
        .with_no_client_auth();
    Ok(Arc::new(config))
});

/// The trust store, read and parsed on first use.
static ROOTS: LazyLock<Arc<RootCertStore>> = LazyLock::new(|| Arc::new(load_roots()));

/// The TLS configuration of every HTTPS client: TLS 1.2 and 1.3, the system's roots, the cipher
/// suites the AWS SDK restricts itself to.
pub fn client_config() -> Result<Arc<ClientConfig>, TlsSetupError> {
    CONFIG.clone()
}

/// The AEAD suites aws-smithy-http-client keeps, in its order of preference.
const SUITES: [CipherSuite; 7] = [
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// *ring* with the AEAD suites aws-smithy-http-client keeps (its `restrict_ciphers`): AES-GCM
/// with ECDHE, and ChaCha20 only for TLS 1.2 with RSA, in its order of preference.
fn provider() -> CryptoProvider {
    let base = rustls::crypto::ring::default_provider();
    let cipher_suites = SUITES
        .iter()
        .filter_map(|wanted| {
            base.cipher_suites
                .iter()
                .find(|s| s.suite() == *wanted)
                .copied()
        })
        .collect();
    CryptoProvider {
        cipher_suites,
        ..base
    }
}

/// Where the roots are: the environment's `SSL_CERT_FILE` and `SSL_CERT_DIR` if either is set,
/// else what openssl-probe finds (as rustls-native-certs decides).
fn locations() -> (Option<PathBuf>, Vec<PathBuf>) {
    let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = match std::env::var_os("SSL_CERT_DIR") {
        Some(dirs) => std::env::split_paths(&dirs)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => Vec::new(),
    };
    if file.is_some() || !dirs.is_empty() {
        return (file, dirs);
    }
    let probed = openssl_probe::probe();
    (probed.cert_file, probed.cert_dir)
}

/// The trust store of every root found; none found is logged (every `https` call then fails).
fn load_roots() -> RootCertStore {
    let (file, dirs) = locations();
    let mut bundle = Bundle::default();
    if let Some(file) = &file {
        bundle.read_file(file);
    }
    for dir in &dirs {
        bundle.read_dir(dir);
    }
    // A directory often holds the bundle's certificates again: each is parsed once.
    let mut certificates = bundle.certificates;
    certificates.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certificates.dedup();
    let mut roots = RootCertStore::empty();
    let (added, unusable) = roots.add_parsable_certificates(certificates);
    if unusable > 0 {
        tracing::warn!(
            unusable,
            "root certificates that could not be parsed were skipped"
        );
    }
    if added == 0 {
        tracing::warn!(file = ?file, dirs = ?dirs, "no root certificates found: https calls will fail");
    }
    roots
}

/// The certificates read so far, and the files already read.
#[derive(Default)]
struct Bundle {
    certificates: Vec<CertificateDer<'static>>,
    /// (device, inode) of the files read: a directory's symlinks to one file read it once.
    seen_files: HashSet<(u64, u64)>,
}

impl Bundle {
    /// Reads one PEM file, unless it was read already.
    fn read_file(&mut self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "root certificates could not be read");
                return;
            }
        };
        if let Ok(meta) = file.metadata() {
            if !self.seen_files.insert((meta.dev(), meta.ino())) {
                return;
            }
        }
        // A small buffer read line by line: reading the whole bundle (~220 KB) into one fresh
        // allocation cost more in page faults than the parsing.
        self.add_pem(
            &mut std::io::BufReader::with_capacity(32 * 1024, file),
            path,
        );
    }

    /// Reads every regular file of `dir` (symlinks followed), as openssl's hashed directories
    /// and distributions' bundle directories hold them.
    fn read_dir(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "root certificate directory could not be read");
                return;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // A dangling symlink or a subdirectory is skipped, as rustls-native-certs does.
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                self.read_file(&path);
            }
        }
    }

    /// Adds every `CERTIFICATE` block of `pem`; other blocks (keys, `TRUSTED CERTIFICATE`) and
    /// text between blocks are ignored, a block that does not decode is logged and skipped.
    fn add_pem(&mut self, pem: &mut impl BufRead, path: &Path) {
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        const END: &[u8] = b"-----END CERTIFICATE-----";
        let mut line = Vec::with_capacity(128);
        // The base64 text of the block being read, without whitespace; `None` between blocks.
        let mut block: Option<Vec<u8>> = None;
        let mut garbled = 0usize;
        loop {
            line.clear();
            match pem.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "root certificates could not be read whole");
                    break;
                }
            }
            let line = line.trim_ascii();
            if line == BEGIN {
                if block.is_some() {
                    garbled += 1;
                }
                block = Some(Vec::with_capacity(2048));
                continue;
            }
            let Some(text) = &mut block else { continue };
            if line == END {
                // Public data: a plain (not constant-time) decoder is fine, and much quicker.
                match base64::engine::general_purpose::STANDARD.decode(&*text) {
                    Ok(der) => self.certificates.push(CertificateDer::from(der)),
                    Err(_) => garbled += 1,
                }
                block = None;
            } else if line.iter().any(u8::is_ascii_whitespace) {
                text.extend(line.iter().filter(|b| !b.is_ascii_whitespace()));
            } else {
                text.extend_from_slice(line);
            }
        }
        if block.is_some() {
            garbled += 1;
        }
        if garbled > 0 {
            tracing::warn!(path = %path.display(), garbled, "unreadable PEM certificate blocks were skipped");
        }
    }
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::pem::PemObject;

    use super::*;

    /// A self-signed P-256 CA certificate, made for these tests (valid until 2126).
    const ROOT: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBljCCATugAwIBAgIUIroUSSE1W3AiT258A27i2P+n8UAwCgYIKoZIzj0EAwIw\n\
HzEdMBsGA1UEAwwUc2hhcmVkIHRscyB0ZXN0IHJvb3QwIBcNMjYxMTMwMTc1NzU1\n\
WhgPMjEyNjExMDYxNzU3NTVaMB8xHTAbBgNVBAMMFHNoYXJlZCB0bHMgdGVzdCBy\n\
b290MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAElfSNy9kVfiUSAPq3CsuXQzTE\n\
YkTVq6utEy/TLmx4WUeXU7j3f1H1QcC+LM6bvvkp1/fIvUnEGo573r1CZi45DqNT\n\
MFEwHQYDVR0OBBYEFPghW9oqTgmcB5io7iz72z+XEKvjMB8GA1UdIwQYMBaAFPgh\n\
W9oqTgmcB5io7iz72z+XEKvjMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID\n\
SQAwRgIhAK5AZ1K9C87B+1a+b0R0SPiYUOOr2CZnBjzMNZsSF2cmAiEAmJMnJ6DH\n\
DTjeSIK+G1RVkhNM37Mi/0d4b7uSA8mDrso=\n\
-----END CERTIFICATE-----\n\
";

    /// What rustls-pki-types' PEM reader (rustls-native-certs') makes of `pem`.
    fn reference(pem: &[u8]) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem)
            .filter_map(Result::ok)
            .collect()
    }

    fn read(mut pem: &[u8]) -> Bundle {
        let mut bundle = Bundle::default();
        bundle.add_pem(&mut pem, Path::new("test"));
        bundle
    }

    #[test]
    fn a_block_decodes_as_rustls_pki_types_decodes_it_and_is_a_trust_anchor() {
        let crlf = ROOT.replace('\n', "\r\n");
        let bundle = read(crlf.as_bytes());
        assert_eq!(reference(ROOT.as_bytes()), bundle.certificates);
        let mut roots = RootCertStore::empty();
        assert_eq!((1, 0), roots.add_parsable_certificates(bundle.certificates));
    }

    #[test]
    fn garbage_and_a_truncated_block_are_skipped_repeats_kept_for_load_roots() {
        let pem = format!(
            "junk\n{ROOT}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
             -----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n{ROOT}\
             -----BEGIN CERTIFICATE-----\nAAAA"
        );
        // Both copies are kept: load_roots drops duplicates across files and directories.
        let certificates = read(pem.as_bytes()).certificates;
        assert_eq!(reference(ROOT.repeat(2).as_bytes()), certificates);
        assert!(read(b"").certificates.is_empty());
    }

    #[test]
    fn the_system_bundle_reads_as_rustls_pki_types_reads_it() {
        // Debian's path, as on the machines the tests run on: a missing bundle fails the test
        // rather than skipping it.
        let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt")
            .expect("the system CA bundle at Debian's path");
        assert_eq!(reference(&system), read(&system).certificates);
    }

    #[test]
    fn the_provider_keeps_the_sdks_suites_in_order() {
        let suites: Vec<_> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        // All of them: *ring* has each, so none is dropped and the order is kept.
        assert_eq!(SUITES.to_vec(), suites);
    }
}
