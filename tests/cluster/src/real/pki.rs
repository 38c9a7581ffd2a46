//! The control plane's PKI, in kubeadm's layout (`/etc/kubernetes/pki` below the cluster's
//! directory): the cluster CA, the API server's serving certificate, its client certificate
//! towards kubelets, the service-account signing key, and the admin's client certificate
//! (`O=system:masters`, as kubeadm's `admin.conf` before 1.29 and `super-admin.conf` after).

use crate::peers::certs::{Usage, ca_params, leaf_params, sign, write_file};
use anyhow::Result;
use rcgen::{Issuer, KeyPair, SanType};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files the control plane's components are started with.
#[derive(Debug, Clone)]
pub struct ControlPlanePki {
    pub dir: PathBuf,
    /// `ca.crt` / `ca.key`
    pub ca: Pair,
    /// `apiserver.crt`: the API server's address, the `kubernetes` Service's ClusterIP and names.
    pub apiserver: Pair,
    /// `apiserver-kubelet-client.crt`: how the API server authenticates to kubelets.
    pub apiserver_kubelet_client: Pair,
    /// `sa.key`: signs service-account tokens (PKCS#8).
    pub sa_key: PathBuf,
    /// `sa.pub`: verifies them (SPKI; keyutil reads an EC private key only in SEC1 form).
    pub sa_pub: PathBuf,
    /// The admin's client certificate (`O=system:masters`).
    pub admin: Pair,
    /// The fault proxy's serving certificate (the host end of the veth).
    pub proxy: Pair,
}

fn pair(dir: &Path, name: &str) -> Pair {
    Pair {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    }
}

impl ControlPlanePki {
    /// Generate every file below `dir`.
    pub fn generate(
        dir: &Path,
        apiserver_ip: Ipv4Addr,
        service_ip: Ipv4Addr,
        proxy_ip: Ipv4Addr,
    ) -> Result<Self> {
        let ca_key = KeyPair::generate()?;
        let ca_p = ca_params("kubernetes");
        let ca_cert = ca_p.self_signed(&ca_key)?;
        let pki = ControlPlanePki {
            dir: dir.to_path_buf(),
            ca: pair(dir, "ca"),
            apiserver: pair(dir, "apiserver"),
            apiserver_kubelet_client: pair(dir, "apiserver-kubelet-client"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
            admin: pair(dir, "admin"),
            proxy: pair(dir, "fault-proxy"),
        };
        write_file(&pki.ca.cert, &ca_cert.pem(), 0o644)?;
        write_file(&pki.ca.key, &ca_key.serialize_pem(), 0o600)?;
        let issuer = Issuer::new(ca_p, ca_key);
        let year = OffsetDateTime::now_utc() + Duration::days(365);

        let mut sans = vec![
            SanType::IpAddress(IpAddr::V4(apiserver_ip)),
            SanType::IpAddress(IpAddr::V4(service_ip)),
        ];
        for name in [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
        ] {
            sans.push(SanType::DnsName(name.to_string().try_into()?));
        }
        sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let proxy_sans = [SanType::IpAddress(IpAddr::V4(proxy_ip))];
        let leaves: [(&Pair, rcgen::CertificateParams); 4] = [
            (
                &pki.proxy,
                leaf_params(
                    "promfix-fault-proxy",
                    None,
                    &proxy_sans,
                    Usage::Server,
                    year,
                ),
            ),
            (
                &pki.apiserver,
                leaf_params("kube-apiserver", None, &sans, Usage::Server, year),
            ),
            (
                &pki.apiserver_kubelet_client,
                leaf_params(
                    "kube-apiserver-kubelet-client",
                    Some("kubeadm:cluster-admins"),
                    &[],
                    Usage::Client,
                    year,
                ),
            ),
            (
                &pki.admin,
                leaf_params(
                    "kubernetes-super-admin",
                    Some("system:masters"),
                    &[],
                    Usage::Client,
                    year,
                ),
            ),
        ];
        for (files, params) in leaves {
            let leaf = sign(&params, &issuer)?;
            write_file(&files.cert, &leaf.cert, 0o644)?;
            write_file(&files.key, &leaf.key, 0o600)?;
        }
        let sa = KeyPair::generate()?;
        write_file(&pki.sa_key, &sa.serialize_pem(), 0o600)?;
        write_file(&pki.sa_pub, &sa.public_key_pem(), 0o644)?;
        Ok(pki)
    }
}
