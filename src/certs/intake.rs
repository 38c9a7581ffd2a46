//! Where the three inputs come from: explicit paths, `--from-dir` layouts (kubeadm, kubespray,
//! k3s, RKE2), kube-apiserver arguments; and etcd endpoint lists.
//!
//! Layouts (file names checked against the installers' sources):
//! - kubeadm: `/etc/kubernetes/pki/etcd/{ca.crt,healthcheck-client.crt,healthcheck-client.key}`
//!   and `/etc/kubernetes/pki/apiserver-etcd-client.{crt,key}` (one level up from `etcd/`).
//!   `/etc/kubernetes/pki/ca.crt` is the cluster CA, not the etcd CA: never used.
//! - kubespray (`roles/etcd`, `etcd_cert_dir` = `/etc/ssl/etcd/ssl`): `ca.pem`,
//!   `node-<host>.pem` + `node-<host>-key.pem`, `admin-<host>.pem` + `admin-<host>-key.pem`;
//!   `member-<host>.pem` are the etcd server certificates, offered only when nothing else is there.
//! - k3s (`pkg/daemons/control/deps/deps.go`: `ETCDServerCA = tls/etcd/server-ca.crt`,
//!   `ClientETCDCert = tls/etcd/client.crt`, `ServerETCDCert = tls/etcd/server-client.crt`) under
//!   `/var/lib/rancher/k3s/server/tls/etcd/`; RKE2 uses the same code under
//!   `/var/lib/rancher/rke2/server/tls/etcd/`.

use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::CertError;

/// The three input files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertPaths {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Which installer's layout a discovered candidate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Kubeadm,
    Kubespray,
    K3s,
    Rke2,
    /// The k3s/RKE2 `tls/etcd` layout where the path does not say which of the two.
    K3sOrRke2,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Kubeadm => "kubeadm",
            Layout::Kubespray => "kubespray",
            Layout::K3s => "k3s",
            Layout::Rke2 => "RKE2",
            Layout::K3sOrRke2 => "k3s/RKE2",
        })
    }
}

/// One complete (CA, certificate, key) triple found by [`discover`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub layout: Layout,
    /// Short name for listing, e.g. `apiserver-etcd-client` or `node-node1`.
    pub name: String,
    /// The host part of kubespray names (`node-<host>`), if any.
    pub host: Option<String>,
    /// True for etcd server certificates (kubespray `member-*`, k3s `server-client`) that
    /// happen to allow client auth; offered after the client certificates.
    pub server_cert: bool,
    pub paths: CertPaths,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: --ca {} --cert {} --key {}",
            self.layout,
            self.name,
            self.paths.ca.display(),
            self.paths.cert.display(),
            self.paths.key.display()
        )
    }
}

const LOOKED_FOR: &str = "looked for kubeadm (etcd/ca.crt with apiserver-etcd-client.crt/.key or healthcheck-client.crt/.key), \
kubespray (ca.pem with node-<host>.pem + node-<host>-key.pem or admin-<host>.pem + admin-<host>-key.pem) \
and k3s/RKE2 (tls/etcd/server-ca.crt with client.crt + client.key); give the files with --ca, --cert and --key instead";

/// At most this many directory entries are looked at (a wrong `--from-dir /` must stay cheap).
const MAX_DIR_ENTRIES: usize = 10_000;

fn is_file(p: &Path) -> bool {
    p.is_file()
}

/// Finds every complete candidate triple under `dir`, best first. Several results: the caller
/// asks (TTY) or lists them. No result: [`CertError::NothingDiscovered`]. Files are only checked
/// for existence here; [`super::load_and_validate`] reads them.
pub fn discover(dir: &Path) -> Result<Vec<Candidate>, CertError> {
    let nothing = |looked_for: String| CertError::NothingDiscovered {
        dir: dir.to_path_buf(),
        looked_for,
    };
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(nothing("it is not a directory; give a directory with --from-dir, or the files with --ca, --cert and --key".into())),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(nothing("permission denied reading it; run with enough rights (e.g. sudo)".into()));
        }
        Err(_) => return Err(nothing("the directory does not exist".into())),
    }
    if let Err(e) = fs::read_dir(dir) {
        return Err(nothing(
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                "permission denied listing it; run with enough rights (e.g. sudo)".into()
            } else {
                format!("cannot list it: {e}")
            },
        ));
    }
    // kubeadm's apiserver-etcd-client lives one level up: make `.`/`..` resolvable first.
    let resolved = match dir.components().next_back() {
        Some(std::path::Component::Normal(_)) => std::path::absolute(dir),
        _ => fs::canonicalize(dir),
    }
    .unwrap_or_else(|_| dir.to_path_buf());
    let dir = resolved.as_path();
    let mut out = Vec::new();
    kubeadm(dir, &mut out);
    rancher(dir, &mut out);
    kubespray(dir, &mut out);
    if out.is_empty() {
        return Err(nothing(LOOKED_FOR.into()));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)] // private helper; each call names its arguments' roles
fn push_pair(
    out: &mut Vec<Candidate>,
    layout: Layout,
    name: &str,
    host: Option<String>,
    server_cert: bool,
    ca: &Path,
    cert: PathBuf,
    key: PathBuf,
) {
    if is_file(ca) && is_file(&cert) && is_file(&key) {
        let c = Candidate {
            layout,
            name: name.to_string(),
            host,
            server_cert,
            paths: CertPaths {
                ca: ca.to_path_buf(),
                cert,
                key,
            },
        };
        if !out.iter().any(|o| o.paths == c.paths) {
            out.push(c);
        }
    }
}

fn kubeadm(dir: &Path, out: &mut Vec<Candidate>) {
    // dir may be /etc/kubernetes, /etc/kubernetes/pki or /etc/kubernetes/pki/etcd.
    for etcd_dir in [
        dir.join("pki").join("etcd"),
        dir.join("etcd"),
        dir.to_path_buf(),
    ] {
        let ca = etcd_dir.join("ca.crt");
        if !is_file(&ca) {
            continue;
        }
        let pki = if etcd_dir == dir {
            dir.parent().map(Path::to_path_buf)
        } else {
            etcd_dir.parent().map(Path::to_path_buf)
        };
        // The certificate kubeadm makes for health checks and monitoring comes first: it is what
        // a scraper should hold. The kube-apiserver's own is the fallback (a copy of it in a
        // Secret is the API server's identity towards etcd).
        push_pair(
            out,
            Layout::Kubeadm,
            "healthcheck-client",
            None,
            false,
            &ca,
            etcd_dir.join("healthcheck-client.crt"),
            etcd_dir.join("healthcheck-client.key"),
        );
        if let Some(pki) = pki {
            push_pair(
                out,
                Layout::Kubeadm,
                "apiserver-etcd-client",
                None,
                false,
                &ca,
                pki.join("apiserver-etcd-client.crt"),
                pki.join("apiserver-etcd-client.key"),
            );
        }
        if out.iter().any(|c| c.layout == Layout::Kubeadm) {
            return;
        }
    }
}

fn rancher(dir: &Path, out: &mut Vec<Candidate>) {
    let text = dir.to_string_lossy();
    let layout = if text.contains("rke2") {
        Layout::Rke2
    } else if text.contains("k3s") {
        Layout::K3s
    } else {
        Layout::K3sOrRke2
    };
    for etcd_dir in [
        dir.to_path_buf(),
        dir.join("etcd"),
        dir.join("tls").join("etcd"),
        dir.join("server").join("tls").join("etcd"),
    ] {
        let ca = etcd_dir.join("server-ca.crt");
        if !is_file(&ca) {
            continue;
        }
        let before = out.len();
        push_pair(
            out,
            layout,
            "client",
            None,
            false,
            &ca,
            etcd_dir.join("client.crt"),
            etcd_dir.join("client.key"),
        );
        push_pair(
            out,
            layout,
            "server-client",
            None,
            true,
            &ca,
            etcd_dir.join("server-client.crt"),
            etcd_dir.join("server-client.key"),
        );
        if out.len() > before {
            return;
        }
    }
}

fn kubespray(dir: &Path, out: &mut Vec<Candidate>) {
    // dir may be /etc/ssl/etcd or /etc/ssl/etcd/ssl.
    for d in [dir.to_path_buf(), dir.join("ssl")] {
        let ca = d.join("ca.pem");
        if !is_file(&ca) {
            continue;
        }
        let Ok(rd) = fs::read_dir(&d) else { continue };
        let mut names: Vec<String> = rd
            .take(MAX_DIR_ENTRIES)
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let before = out.len();
        let mut members = Vec::new();
        for prefix in ["node-", "admin-", "member-"] {
            for n in &names {
                let Some(stem) = n.strip_suffix(".pem") else {
                    continue;
                };
                if stem.ends_with("-key") {
                    continue;
                }
                let Some(host) = stem.strip_prefix(prefix) else {
                    continue;
                };
                if host.is_empty() {
                    continue;
                }
                let cert = d.join(n);
                let key = d.join(format!("{stem}-key.pem"));
                if prefix == "member-" {
                    members.push((stem.to_string(), host.to_string(), cert, key));
                } else {
                    push_pair(
                        out,
                        Layout::Kubespray,
                        stem,
                        Some(host.to_string()),
                        false,
                        &ca,
                        cert,
                        key,
                    );
                }
            }
        }
        if out.len() == before {
            for (stem, host, cert, key) in members {
                push_pair(
                    out,
                    Layout::Kubespray,
                    &stem,
                    Some(host),
                    true,
                    &ca,
                    cert,
                    key,
                );
            }
        }
        if out.len() > before {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// kube-apiserver arguments

/// The etcd-related flags of a kube-apiserver command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiserverEtcdArgs {
    pub cafile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// The `--etcd-servers` values as given (all occurrences, comma lists split).
    pub servers_raw: Vec<String>,
    /// The parsed `--etcd-servers` endpoints.
    pub servers: Vec<Endpoint>,
}

impl ApiserverEtcdArgs {
    /// The three files when all three flags are present.
    pub fn paths(&self) -> Option<CertPaths> {
        Some(CertPaths {
            ca: self.cafile.clone()?,
            cert: self.certfile.clone()?,
            key: self.keyfile.clone()?,
        })
    }
}

/// Splits a `/proc/<pid>/cmdline` (NUL separated) into arguments.
pub fn split_proc_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Reads `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile` and `--etcd-servers` from a
/// kube-apiserver command line (the container `command`+`args` of the mirror pod, or
/// `/proc/<pid>/cmdline`). Both `--flag=value` and `--flag value` are understood, as in
/// spf13/pflag (`flag.go` parseLongArg: without `=`, the next argument is the value whatever it
/// looks like). `--etcd-servers` is a string slice (`fs.StringSliceVar(&s.StorageConfig.Transport.ServerList,
/// "etcd-servers", ...)` in k8s.io/apiserver `pkg/server/options/etcd.go`): repeated occurrences add up. For the file
/// flags the last occurrence wins. `default_port` applies to server URLs without a port.
pub fn parse_apiserver_args(
    args: &[String],
    default_port: u16,
) -> Result<ApiserverEtcdArgs, CertError> {
    let mut out = ApiserverEtcdArgs::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        let Some(long) = a.strip_prefix("--") else {
            continue;
        };
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        if !matches!(
            name,
            "etcd-cafile" | "etcd-certfile" | "etcd-keyfile" | "etcd-servers"
        ) {
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => {
                    return Err(CertError::BadApiserverArgs {
                        reason: format!("flag --{name} needs an argument"),
                    });
                }
            },
        };
        match name {
            "etcd-cafile" => out.cafile = non_empty_path(name, &value)?,
            "etcd-certfile" => out.certfile = non_empty_path(name, &value)?,
            "etcd-keyfile" => out.keyfile = non_empty_path(name, &value)?,
            _ => {
                for s in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    out.servers_raw.push(s.to_string());
                    out.servers.push(parse_one(s, default_port, true)?);
                }
            }
        }
    }
    Ok(out)
}

fn non_empty_path(name: &str, v: &str) -> Result<Option<PathBuf>, CertError> {
    if v.trim().is_empty() {
        return Err(CertError::BadApiserverArgs {
            reason: format!("flag --{name} has an empty value"),
        });
    }
    Ok(Some(PathBuf::from(v)))
}

// ---------------------------------------------------------------------------------------------
// endpoints

/// How the endpoint is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

/// An etcd host: an IP address or a DNS name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Dns(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Dns(d) => f.write_str(d),
        }
    }
}

/// One etcd client endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub host: Host,
    pub port: u16,
}

impl Endpoint {
    /// The host without brackets (for TLS server names and `Host:` headers of IPv4/DNS).
    pub fn host_str(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(d) => d.clone(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        write!(f, "{s}://{}:{}", self.host, self.port)
    }
}

/// Parses `--endpoints IP[,IP...]` with `--port` as the default port. Items may be bare IPs or
/// host names, `host:port`, `[v6]:port`, a bare IPv6 address, or URLs (`https://ip:port`).
pub fn parse_endpoint_list(list: &str, default_port: u16) -> Result<Vec<Endpoint>, CertError> {
    parse_list(list, default_port, false)
}

/// Parses the value of kube-apiserver's `--etcd-servers` (comma-separated URLs).
pub fn parse_etcd_servers(value: &str, default_port: u16) -> Result<Vec<Endpoint>, CertError> {
    parse_list(value, default_port, true)
}

fn parse_list(list: &str, default_port: u16, urls_only: bool) -> Result<Vec<Endpoint>, CertError> {
    if default_port == 0 {
        return Err(bad(list, "port 0 is not a valid port (use 1-65535)"));
    }
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    if items.iter().all(|s| s.is_empty()) {
        return Err(bad(
            list,
            "no endpoint given; expected e.g. 10.0.0.10,10.0.0.11",
        ));
    }
    let mut out: Vec<Endpoint> = Vec::new();
    for item in items {
        if item.is_empty() {
            return Err(bad(list, "empty entry in the comma-separated list"));
        }
        let ep = parse_one(item, default_port, urls_only)?;
        if !out.contains(&ep) {
            out.push(ep);
        }
    }
    Ok(out)
}

fn bad(input: &str, reason: &str) -> CertError {
    let mut input = input.to_string();
    if input.len() > 200 {
        let mut cut = 200;
        while !input.is_char_boundary(cut) {
            cut -= 1;
        }
        input.truncate(cut);
        input.push_str("...");
    }
    CertError::BadEndpoint {
        input: input.escape_debug().to_string(),
        reason: reason.to_string(),
    }
}

fn parse_one(item: &str, default_port: u16, urls_only: bool) -> Result<Endpoint, CertError> {
    let (scheme, rest) = match item.split_once("://") {
        Some((s, rest)) => {
            let scheme = match s.to_ascii_lowercase().as_str() {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                _ => {
                    return Err(bad(
                        item,
                        "unsupported scheme; etcd endpoints are https://host:port (or http://)",
                    ));
                }
            };
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            if rest.contains(['/', '?', '#']) {
                return Err(bad(item, "a URL path, query or fragment is not allowed"));
            }
            if rest.contains('@') {
                return Err(bad(item, "user information in the URL is not allowed"));
            }
            (scheme, rest)
        }
        None if urls_only => {
            return Err(bad(item, "expected a URL like https://10.0.0.10:2379"));
        }
        None => (Scheme::Https, item),
    };
    if rest.is_empty() {
        return Err(bad(item, "the host is missing"));
    }
    let (host, port) = split_host_port(item, rest)?;
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(bad(item, "the port must be a number from 1 to 65535")),
        },
    };
    Ok(Endpoint {
        scheme,
        host: parse_host(item, host)?,
        port,
    })
}

fn split_host_port<'a>(item: &str, s: &'a str) -> Result<(&'a str, Option<&'a str>), CertError> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err(bad(item, "unclosed '[' in an IPv6 address"));
        };
        return match after {
            "" => Ok((h, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((h, Some(p))),
                None => Err(bad(item, "unexpected text after ']'")),
            },
        };
    }
    match s.matches(':').count() {
        0 => Ok((s, None)),
        1 => {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            Ok((h, Some(p)))
        }
        // A bare IPv6 address (no port possible without brackets).
        _ => Ok((s, None)),
    }
}

fn parse_host(item: &str, h: &str) -> Result<Host, CertError> {
    if h.is_empty() {
        return Err(bad(item, "the host is missing"));
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        if ip.is_unspecified() {
            return Err(bad(
                item,
                "0.0.0.0/:: is a listen address, not an address to connect to",
            ));
        }
        return Ok(Host::Ip(ip));
    }
    if h.contains(':') {
        return Err(bad(item, "not a valid IPv6 address"));
    }
    let name = h.strip_suffix('.').unwrap_or(h);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !labels.iter().all(label_ok) {
        return Err(bad(item, "not an IP address or a valid host name"));
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad(item, "not a valid IP address"));
    }
    Ok(Host::Dns(name.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn endpoint_lists() {
        let eps = parse_endpoint_list(
            "10.0.0.1, 10.0.0.2:2381,[fd00::1]:2379,fd00::2,etcd-0.example",
            2379,
        )
        .unwrap();
        let shown: Vec<String> = eps.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "https://10.0.0.1:2379",
                "https://10.0.0.2:2381",
                "https://[fd00::1]:2379",
                "https://[fd00::2]:2379",
                "https://etcd-0.example:2379"
            ]
        );
        for garbage in [
            "",
            ",",
            "10.0.0.1,,10.0.0.2",
            "10.0.0.256",
            "10.0.0.1:0",
            "10.0.0.1:70000",
            "10.0.0.1:x",
            "10.0.0.1:+5",
            "foo bar",
            "unix:///var/run/etcd.sock",
            "https://10.0.0.1:2379/metrics",
            "[fd00::1",
            "::",
            "0.0.0.0",
            "-bad-.host",
            "https://user@10.0.0.1",
            "https://",
            "10.0.0.1:",
        ] {
            let e = parse_endpoint_list(garbage, 2379).unwrap_err();
            assert_eq!(e.kind(), "BadEndpoint", "{garbage:?}");
        }
        assert!(parse_endpoint_list("10.0.0.1", 0).is_err());
    }

    #[test]
    fn etcd_servers_urls() {
        let eps = parse_etcd_servers(
            "https://10.0.0.1:2379,https://10.0.0.2:2379/,http://127.0.0.1:2379",
            2379,
        )
        .unwrap();
        assert_eq!(eps.len(), 3);
        assert_eq!(eps[2].scheme, Scheme::Http);
        assert!(parse_etcd_servers("10.0.0.1:2379", 2379).is_err());
    }

    #[test]
    fn apiserver_args_both_forms() {
        let a = parse_apiserver_args(
            &s(&[
                "kube-apiserver",
                "--advertise-address=10.0.0.1",
                "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
                "--etcd-certfile",
                "/etc/kubernetes/pki/apiserver-etcd-client.crt",
                "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
                "--etcd-servers=https://10.0.0.1:2379,https://10.0.0.2:2379",
                "--etcd-servers-overrides=/events#https://10.0.0.9:2379",
                "--etcd-servers",
                "https://10.0.0.3:2379",
            ]),
            2379,
        )
        .unwrap();
        let p = a.paths().unwrap();
        assert_eq!(p.ca, PathBuf::from("/etc/kubernetes/pki/etcd/ca.crt"));
        assert_eq!(
            p.cert,
            PathBuf::from("/etc/kubernetes/pki/apiserver-etcd-client.crt")
        );
        assert_eq!(
            p.key,
            PathBuf::from("/etc/kubernetes/pki/apiserver-etcd-client.key")
        );
        assert_eq!(a.servers.len(), 3);
        assert_eq!(a.servers[2].host, Host::Ip("10.0.0.3".parse().unwrap()));
        let e = parse_apiserver_args(&s(&["kube-apiserver", "--etcd-cafile"]), 2379).unwrap_err();
        assert_eq!(e.kind(), "BadApiserverArgs");
        let e = parse_apiserver_args(&s(&["--etcd-servers=garbage here"]), 2379).unwrap_err();
        assert_eq!(e.kind(), "BadEndpoint");
        assert_eq!(
            split_proc_cmdline(b"kube-apiserver\0--etcd-servers=https://10.0.0.1:2379\0"),
            s(&["kube-apiserver", "--etcd-servers=https://10.0.0.1:2379"])
        );
    }
}
