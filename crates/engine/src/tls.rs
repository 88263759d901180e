//! TLS material: one certificate authority per deployment, generated on first start and kept in the data
//! directory, and a certificate for each node signed by it.
//!
//! A node's certificate names, as IP addresses, every address a client may dial to reach it: the node's own, and
//! the group's primary and reader endpoints (the primary endpoint's address moves between nodes on failover, and
//! the reader endpoint forwards bytes to a replica without terminating TLS). Clients that trust the CA bundle
//! verify the certificate for the address they connected to.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::secret::write_private;
use crate::{io_err, EngineError, Result};

/// The deployment's certificate authority.
pub struct Authority {
    cert_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authority({})", self.cert_path.display())
    }
}

/// The CA bundle of the authority kept in `dir` ([`Authority::load_or_create`]).
pub fn bundle_in(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

/// Where a node's certificate, key and the CA bundle it trusts are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

fn tls_err(what: &str) -> impl FnOnce(rcgen::Error) -> EngineError + '_ {
    move |e| EngineError::Other(format!("{what}: {e}"))
}

impl Authority {
    /// Loads the CA from `dir` (`ca.pem`, `ca.key`), creating it the first time.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let cert_path = bundle_in(dir);
        let key_path = dir.join("ca.key");
        if cert_path.exists() && key_path.exists() {
            let key_pem = std::fs::read_to_string(&key_path).map_err(io_err(&key_path))?;
            let cert_pem = std::fs::read_to_string(&cert_path).map_err(io_err(&cert_path))?;
            let key = KeyPair::from_pem(&key_pem).map_err(tls_err("CA key"))?;
            let issuer =
                Issuer::from_ca_cert_pem(&cert_pem, key).map_err(tls_err("CA certificate"))?;
            return Ok(Self { cert_path, issuer });
        }
        let key = KeyPair::generate().map_err(tls_err("CA key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err("CA"))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "Cacheplane CA");
        name.push(DnType::OrganizationName, "Cacheplane");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let cert = params.self_signed(&key).map_err(tls_err("CA"))?;
        // The key first: a certificate without its key would be reused without being able to sign.
        write_private(&key_path, &key.serialize_pem())?;
        std::fs::write(&cert_path, cert.pem()).map_err(io_err(&cert_path))?;
        Ok(Self {
            cert_path,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA bundle clients trust.
    pub fn bundle(&self) -> &Path {
        &self.cert_path
    }

    /// Where the certificate of the node whose directory is `dir` is (written by [`Self::node_certificate`]).
    pub fn files(&self, dir: &Path) -> NodeCertificate {
        NodeCertificate {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            ca: self.cert_path.clone(),
        }
    }

    /// Writes a certificate for a node into `dir` (`tls.crt`, `tls.key`) naming `addresses`, unless the one there
    /// already names exactly them.
    pub fn node_certificate(&self, dir: &Path, addresses: &[IpAddr]) -> Result<NodeCertificate> {
        self.node_certificate_for(dir, addresses, &[])
    }

    /// [`Self::node_certificate`] naming DNS names `dns` as well.
    pub fn node_certificate_for(
        &self,
        dir: &Path,
        addresses: &[IpAddr],
        dns: &[String],
    ) -> Result<NodeCertificate> {
        let out = self.files(dir);
        let names_path = dir.join("tls.names");
        let names = addresses
            .iter()
            .map(ToString::to_string)
            .chain(dns.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        if out.cert.exists()
            && out.key.exists()
            && std::fs::read_to_string(&names_path).ok().as_deref() == Some(names.as_str())
        {
            return Ok(out);
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        // The names file is what makes a key and a certificate a pair: it goes first and comes back last, so a
        // write that fails half-way (a full disk, no descriptor left) leaves no pair that looks whole — the next
        // call writes both again — and never a key that does not match its certificate.
        match std::fs::remove_file(&names_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err(&names_path)(e))
            }
            _ => {}
        }
        let issued = self.issue_node(addresses, dns)?;
        write_private(&out.key, &issued.key)?;
        write_private(&out.cert, &issued.cert)?;
        write_private(&names_path, &names)?;
        Ok(out)
    }

    /// A new certificate for a node naming `addresses` and the DNS names `dns`, with its key, signed by this CA
    /// (PEM).
    pub fn issue_node(&self, addresses: &[IpAddr], dns: &[String]) -> Result<Identity> {
        let key = KeyPair::generate().map_err(tls_err("node key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err("node"))?;
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            addresses
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        params.distinguished_name = name;
        params.subject_alt_names = addresses
            .iter()
            .map(|a| Ok(SanType::IpAddress(*a)))
            .chain(dns.iter().map(|n| {
                Ok(SanType::DnsName(
                    n.as_str().try_into().map_err(tls_err("node DNS name"))?,
                ))
            }))
            .collect::<Result<Vec<_>>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // Server for clients; client too, for the replication link (a replica opens TLS to its primary).
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(tls_err("node certificate"))?;
        Ok(Identity {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// What a host agent needs to run a node naming `addresses` and `dns` with TLS: a new certificate and key, and
    /// this CA.
    pub fn node_pem(&self, addresses: &[IpAddr], dns: &[String]) -> Result<NodeTlsPem> {
        let issued = self.issue_node(addresses, dns)?;
        Ok(NodeTlsPem {
            cert: issued.cert,
            key: issued.key,
            ca: self.ca_pem()?,
        })
    }
}

/// A node's certificate, its key and the CA bundle, as PEM: what the leader sends a host agent with a node's start,
/// and the agent writes into the node's directory ([`NodeTlsPem::write`]).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeTlsPem {
    pub cert: String,
    pub key: String,
    pub ca: String,
}

impl std::fmt::Debug for NodeTlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeTlsPem")
    }
}

/// The files [`NodeTlsPem::write`] makes in a node's directory.
pub fn files_in(dir: &Path) -> NodeCertificate {
    NodeCertificate {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        ca: dir.join("ca.pem"),
    }
}

impl NodeTlsPem {
    /// Writes the three files into `dir` (0600; the key first, the certificate it goes with next).
    pub fn write(&self, dir: &Path) -> Result<NodeCertificate> {
        let out = files_in(dir);
        write_private(&out.key, &self.key)?;
        write_private(&out.cert, &self.cert)?;
        write_private(&out.ca, &self.ca)?;
        Ok(out)
    }
}

/// The TLS client configuration of the control plane's admin connections to nodes whose certificates the CA
/// bundle at `ca` signed (no client certificate: nodes do not ask for one, `tls-auth-clients no`). Made once per
/// bundle's contents.
pub fn node_client_config(ca: &Path) -> Result<std::sync::Arc<tokio_rustls::rustls::ClientConfig>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    use tokio_rustls::rustls;
    static MADE: OnceLock<Mutex<HashMap<String, Arc<rustls::ClientConfig>>>> = OnceLock::new();
    let pem = std::fs::read_to_string(ca).map_err(io_err(ca))?;
    let mut made = MADE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = made.get(&pem) {
        return Ok(c.clone());
    }
    let bad = |e: String| EngineError::Other(format!("CA bundle {}: {e}", ca.display()));
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots
            .add(c.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let config = Arc::new(config);
    // A deployment has one node CA; a bound keeps a process that saw many (tests) from growing.
    if made.len() >= 16 {
        made.clear();
    }
    made.insert(pem, config.clone());
    Ok(config)
}

/// The identity of a host agent or of the control plane on the channel between them, as PEM.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cert: String,
    pub key: String,
}

/// The common name of the control plane's client certificate; an agent obeys no other.
pub const CONTROL_NAME: &str = "cacheplane-control";

/// An agent's certificate request: its key (kept by the agent) and the request it sends with its join token.
pub fn agent_request() -> Result<(KeyPair, String)> {
    let key = KeyPair::generate().map_err(tls_err("agent key"))?;
    let params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err("agent request"))?;
    let csr = params
        .serialize_request(&key)
        .map_err(tls_err("agent request"))?;
    let pem = csr.pem().map_err(tls_err("agent request"))?;
    Ok((key, pem))
}

impl Authority {
    /// The CA's certificate, as PEM.
    pub fn ca_pem(&self) -> Result<String> {
        std::fs::read_to_string(&self.cert_path).map_err(io_err(&self.cert_path))
    }

    /// Signs the key of an agent's certificate request (`csr_pem`) as the server certificate of host `host` at
    /// `address`. Nothing of the request but its key is taken: the names are the control plane's.
    pub fn sign_agent(&self, csr_pem: &str, host: &str, address: IpAddr) -> Result<String> {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(tls_err("agent certificate request"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err("agent"))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        params.distinguished_name = name;
        params.subject_alt_names = vec![SanType::IpAddress(address)];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // A server only: an agent's certificate cannot act as the control plane towards another agent.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        csr.params = params;
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(tls_err("agent certificate"))?;
        Ok(cert.pem())
    }

    /// The control plane's client certificate towards agents (a client only), kept in `dir` and made the first
    /// time.
    pub fn control_identity(&self, dir: &Path) -> Result<Identity> {
        let cert_path = dir.join("control.crt");
        let key_path = dir.join("control.key");
        if let (Ok(cert), Ok(key)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            return Ok(Identity { cert, key });
        }
        let key = KeyPair::generate().map_err(tls_err("control key"))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(tls_err("control"))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, CONTROL_NAME);
        params.distinguished_name = name;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(tls_err("control certificate"))?;
        let out = Identity {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        // The key first, as for a node: a certificate is never found without its key.
        write_private(&key_path, &out.key)?;
        write_private(&cert_path, &out.cert)?;
        Ok(out)
    }
}

/// True when `binary` was built with TLS support: its configuration table knows `tls-cert-file` (a Redis build
/// without TLS leaves every `tls-*` directive out and refuses them) and it links OpenSSL.
pub fn binary_supports_tls(binary: &Path) -> bool {
    // The option names alone are not enough: Valkey builds without TLS still know `tls-cert-file` (and fail at
    // start with "Missing implement of connection type tls"). A TLS build also calls into OpenSSL.
    let has = |bytes: &[u8], what: &[u8]| bytes.windows(what.len()).any(|w| w == what);
    std::fs::read(binary)
        .is_ok_and(|bytes| has(&bytes, b"tls-cert-file") && has(&bytes, b"SSL_CTX_new"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_created_once_and_signs_node_certificates() {
        let d = tempfile::tempdir().expect("tempdir");
        let ca = Authority::load_or_create(&d.path().join("tls")).expect("create");
        let first = std::fs::read_to_string(ca.bundle()).expect("bundle");
        let again = Authority::load_or_create(&d.path().join("tls")).expect("load");
        assert_eq!(
            std::fs::read_to_string(again.bundle()).expect("bundle"),
            first
        );
        let ips: Vec<IpAddr> = vec!["127.1.2.3".parse().expect("ip"), "::1".parse().expect("ip")];
        let node = again
            .node_certificate(&d.path().join("n1"), &ips)
            .expect("node cert");
        let pem = std::fs::read_to_string(&node.cert).expect("cert");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let before = std::fs::metadata(&node.cert)
            .expect("meta")
            .modified()
            .expect("mtime");
        // The same names: kept; other names: issued again.
        again
            .node_certificate(&d.path().join("n1"), &ips)
            .expect("same");
        assert_eq!(
            std::fs::metadata(&node.cert)
                .expect("meta")
                .modified()
                .expect("mtime"),
            before
        );
        again
            .node_certificate(&d.path().join("n1"), &ips[..1])
            .expect("other");
        assert_ne!(std::fs::read_to_string(&node.cert).expect("cert"), pem);
    }

    /// Whether the certificate in `cert_pem` carries the public key of `key_pem`.
    fn pair_matches(key_pem: &str, cert_pem: &str) -> bool {
        use rcgen::PublicKeyData;
        let key = KeyPair::from_pem(key_pem).expect("a key");
        let der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .next()
            .expect("a certificate")
            .expect("readable");
        der.windows(key.der_bytes().len())
            .any(|w| w == key.der_bytes())
    }

    #[test]
    fn a_pair_written_half_way_is_written_again() {
        let d = tempfile::tempdir().expect("tempdir");
        let ca = Authority::load_or_create(&d.path().join("tls")).expect("create");
        let dir = d.path().join("n1");
        let ips: Vec<IpAddr> = vec!["127.1.2.3".parse().expect("ip")];
        let other: Vec<IpAddr> = vec!["127.1.2.4".parse().expect("ip")];
        let node = ca.node_certificate(&dir, &ips).expect("node cert");
        let old_cert = std::fs::read_to_string(&node.cert).expect("cert");
        // A new certificate whose write fails after the key's (as with no descriptor left): the old certificate
        // stays where it was.
        std::fs::rename(&node.cert, dir.join("aside")).expect("aside");
        std::fs::create_dir(&node.cert).expect("a directory in the way");
        assert!(ca.node_certificate(&dir, &other).is_err());
        std::fs::remove_dir(&node.cert).expect("rmdir");
        std::fs::rename(dir.join("aside"), &node.cert).expect("back");
        assert_eq!(std::fs::read_to_string(&node.cert).expect("cert"), old_cert);
        // Asked again for the first names: never the new key with the old certificate.
        let node = ca.node_certificate(&dir, &ips).expect("again");
        let key = std::fs::read_to_string(&node.key).expect("key");
        let cert = std::fs::read_to_string(&node.cert).expect("cert");
        assert!(
            pair_matches(&key, &cert),
            "the key does not match its certificate"
        );
    }
}
