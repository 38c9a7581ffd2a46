//! Per-test etcd PKI in the file layouts users have on their nodes.
//!
//! `dir` passed to [`generate`] stands for the machines' filesystems: each host gets its own root
//! `dir/<host>/`, and the files land at their real absolute paths below it:
//!
//! * kubespray: `<root>/etc/ssl/etcd/ssl/` with `ca.pem`, `ca-key.pem` and, for every host,
//!   `member-<host>.pem`/`-key.pem` (the etcd member's server+peer certificate),
//!   `admin-<host>.pem`/`-key.pem` and `node-<host>.pem`/`-key.pem` (the client certificate the
//!   kube-apiserver on that host uses). Kubespray copies the whole set to every etcd member, so
//!   each host root holds all files.
//! * kubeadm: `<root>/etc/kubernetes/pki/etcd/` with `ca.crt`, `ca.key`, `server.crt/.key`,
//!   `peer.crt/.key`, `healthcheck-client.crt/.key` (the host's own), and
//!   `<root>/etc/kubernetes/pki/apiserver-etcd-client.crt/.key`.
//!
//! Keys: kubespray and kubeadm use RSA 2048, but rcgen cannot generate RSA keys with the ring
//! backend (`KeyPair::generate_for(&PKCS_RSA_SHA256)` is aws-lc-rs only), so every key here is
//! ECDSA P-256, written as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use time::{Duration, OffsetDateTime};

/// Where the files are, and how they are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `/etc/ssl/etcd/ssl`: `ca.pem`, `member-<host>.pem`, `node-<host>.pem`, `admin-<host>.pem`.
    Kubespray,
    /// `/etc/kubernetes/pki/etcd`: `ca.crt`, `server.crt`, `peer.crt`, `healthcheck-client.crt`,
    /// and `/etc/kubernetes/pki/apiserver-etcd-client.crt`.
    Kubeadm,
}

impl Layout {
    /// The directory of the etcd files, absolute as on a node.
    pub fn etcd_dir(&self) -> &'static str {
        match self {
            Layout::Kubespray => "/etc/ssl/etcd/ssl",
            Layout::Kubeadm => "/etc/kubernetes/pki/etcd",
        }
    }
}

/// A certificate and its key on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of one etcd member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFiles {
    pub host: String,
    pub ip: Ipv4Addr,
    /// This host's root (`dir/<host>`): its files are below it at their absolute paths.
    pub root: PathBuf,
    /// The CA certificate as found on this host.
    pub ca: PathBuf,
    /// The certificate etcd serves clients with (`member-<host>.pem` / `server.crt`).
    pub server: CertFiles,
    /// The certificate etcd serves and dials peers with (`member-<host>.pem` / `peer.crt`).
    pub peer: CertFiles,
    /// The kube-apiserver's etcd client certificate on this host (`node-<host>.pem` /
    /// `apiserver-etcd-client.crt`).
    pub apiserver_client: CertFiles,
}

/// The PKI of one test's etcd cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdPki {
    pub layout: Layout,
    /// The `dir` given to [`generate`].
    pub dir: PathBuf,
    /// The CA certificate and key (on the first host).
    pub ca: CertFiles,
    /// The kube-apiserver's client certificate (on the first host): what the plugin should copy.
    pub client: CertFiles,
    pub members: Vec<MemberFiles>,
    /// The name every member's client-serving certificate carries, when it names no address
    /// (a PKI made for clients that reach etcd by name): what a client checks instead of the IP.
    pub serving_name: Option<String>,
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

pub(crate) fn serial() -> SerialNumber {
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let t = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&t.to_be_bytes());
    b[8..].copy_from_slice(&n.to_be_bytes());
    b[0] &= 0x7f; // positive
    b[0] |= 0x10; // no leading zero octet
    SerialNumber::from_slice(&b)
}

pub(crate) fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    if let Some(o) = org {
        d.push(DnType::OrganizationName, o);
    }
    d.push(DnType::CommonName, cn);
    d
}

/// The parameters of a CA named `cn` (the same every time, so an [`Issuer`] can be rebuilt from
/// the key file).
pub(crate) fn ca_params(cn: &str) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn, None);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(3650);
    p.serial_number = Some(serial());
    p
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    Server,
    Client,
    ServerAndClient,
}

pub(crate) fn leaf_params(
    cn: &str,
    org: Option<&str>,
    sans: &[SanType],
    usage: Usage,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn, org);
    p.subject_alt_names = sans.to_vec();
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = match usage {
        Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Usage::ServerAndClient => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    p.use_authority_key_identifier_extension = true;
    p.not_before = (now - Duration::hours(1)).min(not_after - Duration::hours(1));
    p.not_after = not_after;
    p.serial_number = Some(serial());
    p
}

/// kubeadm's etcd server/peer SANs (certs/pkiutil GetEtcdAltNames): localhost and the node name,
/// the node IP, 127.0.0.1 and ::1.
fn sans_for(host: &str, ip: Ipv4Addr) -> Result<Vec<SanType>> {
    let mut v = vec![
        SanType::DnsName(host.to_string().try_into()?),
        SanType::DnsName("localhost".to_string().try_into()?),
        SanType::IpAddress(IpAddr::V4(ip)),
    ];
    if ip != Ipv4Addr::LOCALHOST {
        v.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    v.push(SanType::IpAddress(IpAddr::V6(
        std::net::Ipv6Addr::LOCALHOST,
    )));
    Ok(v)
}

pub(crate) fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(())
}

/// A signed leaf: certificate PEM and PKCS#8 key PEM.
pub(crate) struct Leaf {
    pub(crate) cert: String,
    pub(crate) key: String,
}

pub(crate) fn sign(params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) -> Result<Leaf> {
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok(Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn write_leaf(leaf: &Leaf, files: &CertFiles) -> Result<()> {
    write_file(&files.cert, &leaf.cert, 0o644)?;
    write_file(&files.key, &leaf.key, 0o600)
}

fn files(dir: &Path, cert: &str, key: &str) -> CertFiles {
    CertFiles {
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

fn etcd_dir_of(root: &Path, layout: Layout) -> PathBuf {
    root.join(layout.etcd_dir().trim_start_matches('/'))
}

/// Generate a CA and the certificates of every host, written in `layout` below `dir/<host>/`.
pub fn generate(layout: Layout, hosts: &[(String, Ipv4Addr)], dir: &Path) -> Result<EtcdPki> {
    generate_named(layout, hosts, dir, &[])
}

/// [`generate`], and when `serving_names` is not empty, the members serve clients with a
/// certificate that carries those DNS names and no address, as a PKI made for a name
/// (`etcd.example.internal`) has. The peers keep a certificate of their own with the layout's
/// names and addresses (etcd checks a peer's certificate against the peer URL's address); in
/// the kubespray layout it is `member-<host>-peer.pem`.
pub fn generate_named(
    layout: Layout,
    hosts: &[(String, Ipv4Addr)],
    dir: &Path,
    serving_names: &[String],
) -> Result<EtcdPki> {
    anyhow::ensure!(!hosts.is_empty(), "an etcd PKI needs at least one host");
    let serving_sans = serving_names
        .iter()
        .map(|n| Ok(SanType::DnsName(n.clone().try_into()?)))
        .collect::<Result<Vec<_>>>()?;
    let ca_cn = match layout {
        Layout::Kubespray => "etcd-ca",
        Layout::Kubeadm => "etcd-ca",
    };
    let ca_key = KeyPair::generate()?;
    let ca_p = ca_params(ca_cn);
    let ca_cert = ca_p.self_signed(&ca_key)?.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca_p, ca_key);
    let year = OffsetDateTime::now_utc() + Duration::days(365);

    let mut members = Vec::new();
    match layout {
        Layout::Kubespray => {
            // kubespray (roles/etcd/templates/make-ssl-etcd.sh.j2, openssl.conf.j2): subjects
            // `/CN=etcd-member-<short host>`, `etcd-admin-`, `etcd-node-`, all with the
            // `ssl_client` extensions (`extendedKeyUsage = clientAuth, serverAuth`) and one SAN
            // list shared by every certificate: localhost, the etcd service names, every etcd
            // host's name and IP, 127.0.0.1; `-days {{certificates_duration}}` (36500).
            let century = OffsetDateTime::now_utc() + Duration::days(36500);
            let mut sans = Vec::new();
            for d in [
                "localhost",
                "etcd.kube-system.svc.cluster.local",
                "etcd.kube-system.svc",
                "etcd.kube-system",
                "etcd",
            ] {
                sans.push(SanType::DnsName(d.to_string().try_into()?));
            }
            for (host, _) in hosts {
                sans.push(SanType::DnsName(host.clone().try_into()?));
            }
            sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            for (_, ip) in hosts {
                sans.push(SanType::IpAddress(IpAddr::V4(*ip)));
            }
            let serving = if serving_sans.is_empty() {
                &sans
            } else {
                &serving_sans
            };
            let mut leaves = Vec::new();
            for (host, _) in hosts {
                let cn = host.split('.').next().unwrap_or(host);
                let mk = |what: &str, sans: &[SanType]| -> Result<Leaf> {
                    sign(
                        &leaf_params(
                            &format!("etcd-{what}-{cn}"),
                            None,
                            sans,
                            Usage::ServerAndClient,
                            century,
                        ),
                        &issuer,
                    )
                };
                let member = mk("member", serving)?;
                let peer = if serving_sans.is_empty() {
                    None
                } else {
                    Some(mk("member", &sans)?)
                };
                let (admin, node) = (mk("admin", &sans)?, mk("node", &sans)?);
                leaves.push((host.clone(), member, peer, admin, node));
            }
            for (host, ip) in hosts {
                let root = dir.join(host);
                let d = etcd_dir_of(&root, layout);
                write_file(&d.join("ca.pem"), &ca_cert, 0o644)?;
                write_file(&d.join("ca-key.pem"), &ca_key_pem, 0o600)?;
                let pem = |h: &str, what: &str| {
                    files(
                        &d,
                        &format!("{what}-{h}.pem"),
                        &format!("{what}-{h}-key.pem"),
                    )
                };
                for (h, member, peer, admin, node) in &leaves {
                    write_leaf(member, &pem(h, "member"))?;
                    if let Some(peer) = peer {
                        write_leaf(peer, &pem(&format!("{h}-peer"), "member"))?;
                    }
                    write_leaf(admin, &pem(h, "admin"))?;
                    write_leaf(node, &pem(h, "node"))?;
                }
                let member = pem(host, "member");
                let peer = if serving_sans.is_empty() {
                    member.clone()
                } else {
                    pem(&format!("{host}-peer"), "member")
                };
                members.push(MemberFiles {
                    host: host.clone(),
                    ip: *ip,
                    root: root.clone(),
                    ca: d.join("ca.pem"),
                    server: member,
                    peer,
                    apiserver_client: pem(host, "node"),
                });
            }
        }
        Layout::Kubeadm => {
            // kubeadm (cmd/kubeadm/app/phases/certs/certlist.go): etcd server and peer certs are
            // serverAuth+clientAuth with SANs host name, localhost, the host IP, 127.0.0.1;
            // healthcheck-client and apiserver-etcd-client are clientAuth only.
            for (host, ip) in hosts {
                let root = dir.join(host);
                let d = etcd_dir_of(&root, layout);
                let pki = root.join("etc/kubernetes/pki");
                write_file(&d.join("ca.crt"), &ca_cert, 0o644)?;
                write_file(&d.join("ca.key"), &ca_key_pem, 0o600)?;
                let sans = sans_for(host, *ip)?;
                let serving = if serving_sans.is_empty() {
                    &sans
                } else {
                    &serving_sans
                };
                let server = files(&d, "server.crt", "server.key");
                let peer = files(&d, "peer.crt", "peer.key");
                let hc = files(&d, "healthcheck-client.crt", "healthcheck-client.key");
                let api = files(
                    &pki,
                    "apiserver-etcd-client.crt",
                    "apiserver-etcd-client.key",
                );
                write_leaf(
                    &sign(
                        &leaf_params(host, None, serving, Usage::ServerAndClient, year),
                        &issuer,
                    )?,
                    &server,
                )?;
                write_leaf(
                    &sign(
                        &leaf_params(host, None, &sans, Usage::ServerAndClient, year),
                        &issuer,
                    )?,
                    &peer,
                )?;
                write_leaf(
                    &sign(
                        &leaf_params(
                            "kube-etcd-healthcheck-client",
                            None,
                            &[],
                            Usage::Client,
                            year,
                        ),
                        &issuer,
                    )?,
                    &hc,
                )?;
                write_leaf(
                    &sign(
                        &leaf_params("kube-apiserver-etcd-client", None, &[], Usage::Client, year),
                        &issuer,
                    )?,
                    &api,
                )?;
                members.push(MemberFiles {
                    host: host.clone(),
                    ip: *ip,
                    root,
                    ca: d.join("ca.crt"),
                    server,
                    peer,
                    apiserver_client: api,
                });
            }
        }
    }
    let first = &members[0];
    let ca = match layout {
        Layout::Kubespray => files(&etcd_dir_of(&first.root, layout), "ca.pem", "ca-key.pem"),
        Layout::Kubeadm => files(&etcd_dir_of(&first.root, layout), "ca.crt", "ca.key"),
    };
    Ok(EtcdPki {
        layout,
        dir: dir.to_path_buf(),
        ca,
        client: first.apiserver_client.clone(),
        members,
        serving_name: serving_names.first().cloned(),
    })
}

/// Bad material for tests, written as `<name>.crt` / `<name>.key` under `out`.
impl EtcdPki {
    fn issuer(&self) -> Result<Issuer<'static, KeyPair>> {
        let pem = std::fs::read_to_string(&self.ca.key)
            .with_context(|| format!("reading {}", self.ca.key.display()))?;
        let key = KeyPair::from_pem(&pem)?;
        Ok(Issuer::new(ca_params("etcd-ca"), key))
    }

    /// A client certificate signed by this PKI's CA (clientAuth), valid for a year.
    pub fn mint_client(&self, out: &Path, name: &str) -> Result<CertFiles> {
        self.mint_client_until(out, name, OffsetDateTime::now_utc() + Duration::days(365))
    }

    /// A client certificate signed by this PKI's CA that expired an hour ago.
    pub fn mint_expired_client(&self, out: &Path, name: &str) -> Result<CertFiles> {
        self.mint_client_until(out, name, OffsetDateTime::now_utc() - Duration::hours(1))
    }

    /// A client certificate signed by this PKI's CA whose end is `days` days from now (a
    /// copy near its end, as the Secret's is a year after `kubeadm certs renew`).
    pub fn mint_client_for_days(&self, out: &Path, name: &str, days: i64) -> Result<CertFiles> {
        self.mint_client_until(out, name, OffsetDateTime::now_utc() + Duration::days(days))
    }

    fn mint_client_until(
        &self,
        out: &Path,
        name: &str,
        not_after: OffsetDateTime,
    ) -> Result<CertFiles> {
        let f = files(out, &format!("{name}.crt"), &format!("{name}.key"));
        write_leaf(
            &sign(
                &leaf_params(name, None, &[], Usage::Client, not_after),
                &self.issuer()?,
            )?,
            &f,
        )?;
        Ok(f)
    }

    /// A certificate signed by this PKI's CA with only the serverAuth extended key usage: etcd
    /// refuses it as a client certificate.
    pub fn mint_server_only(&self, out: &Path, name: &str) -> Result<CertFiles> {
        let f = files(out, &format!("{name}.crt"), &format!("{name}.key"));
        let year = OffsetDateTime::now_utc() + Duration::days(365);
        write_leaf(
            &sign(
                &leaf_params(name, None, &[], Usage::Server, year),
                &self.issuer()?,
            )?,
            &f,
        )?;
        Ok(f)
    }
}

/// A client certificate from ANOTHER CA (written next to it as `<name>-ca.crt`): etcd answers the
/// handshake with a `bad certificate` alert.
pub fn mint_foreign_client(out: &Path, name: &str) -> Result<(CertFiles, PathBuf)> {
    let ca_key = KeyPair::generate()?;
    let ca_p = ca_params("other-ca");
    let ca_cert = ca_p.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca_p, ca_key);
    let ca_path = out.join(format!("{name}-ca.crt"));
    write_file(&ca_path, &ca_cert, 0o644)?;
    let f = files(out, &format!("{name}.crt"), &format!("{name}.key"));
    let year = OffsetDateTime::now_utc() + Duration::days(365);
    write_leaf(
        &sign(&leaf_params(name, None, &[], Usage::Client, year), &issuer)?,
        &f,
    )?;
    Ok((f, ca_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<(String, Ipv4Addr)> {
        vec![
            ("node1".into(), Ipv4Addr::new(127, 230, 2, 11)),
            ("node2".into(), Ipv4Addr::new(127, 230, 2, 12)),
        ]
    }

    #[test]
    fn kubespray_layout_has_every_hosts_files() {
        let t = tempfile::tempdir().unwrap();
        let pki = generate(Layout::Kubespray, &hosts(), t.path()).unwrap();
        for h in ["node1", "node2"] {
            let d = t.path().join(h).join("etc/ssl/etcd/ssl");
            for f in [
                "ca.pem",
                "ca-key.pem",
                "member-node1.pem",
                "member-node1-key.pem",
                "member-node2.pem",
                "node-node1.pem",
                "node-node2-key.pem",
                "admin-node1.pem",
                "admin-node2-key.pem",
            ] {
                assert!(d.join(f).is_file(), "{h}: {f}");
            }
        }
        assert_eq!(
            pki.client.cert,
            t.path().join("node1/etc/ssl/etcd/ssl/node-node1.pem")
        );
        let key = std::fs::read_to_string(&pki.client.key).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    }

    #[test]
    fn kubeadm_layout() {
        let t = tempfile::tempdir().unwrap();
        let pki = generate(Layout::Kubeadm, &hosts(), t.path()).unwrap();
        let d = t.path().join("node2/etc/kubernetes/pki");
        for f in [
            "etcd/ca.crt",
            "etcd/ca.key",
            "etcd/server.crt",
            "etcd/server.key",
            "etcd/peer.crt",
            "etcd/peer.key",
            "etcd/healthcheck-client.crt",
            "etcd/healthcheck-client.key",
            "apiserver-etcd-client.crt",
            "apiserver-etcd-client.key",
        ] {
            assert!(d.join(f).is_file(), "{f}");
        }
        assert_eq!(pki.members[1].server.cert, d.join("etcd/server.crt"));
        // the bad material can be minted from the key file
        let out = t.path().join("bad");
        pki.mint_expired_client(&out, "expired").unwrap();
        pki.mint_server_only(&out, "server-only").unwrap();
        mint_foreign_client(&out, "foreign").unwrap();
        assert!(out.join("foreign-ca.crt").is_file());
    }
}
