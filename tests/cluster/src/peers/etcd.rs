//! Real etcd members (Debian `etcd-server`, `/usr/bin/etcd`) forming one cluster on loopback IPs,
//! serving clients over TLS with client-certificate authentication, as kubespray and kubeadm
//! configure them.

use super::certs::{EtcdPki, MemberFiles};
use super::{https_get_named, log_tail, tls_client_config};
use anyhow::{Context, Result, bail};
use rustls::ClientConfig;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const TWO_S: Duration = Duration::from_secs(2);

/// Where Debian's `etcd-server` package installs etcd.
pub const PATH: &str = "/usr/bin/etcd";

/// How to run the members.
#[derive(Clone)]
pub struct EtcdOptions {
    /// Peers talk https with client-certificate auth (kubespray, kubeadm); false: plain http.
    pub peer_tls: bool,
    /// `--listen-metrics-urls=http://IP:2381` (kubeadm's plain-http metrics listener).
    pub metrics: bool,
    /// How long to wait for every member's `/health`.
    pub timeout: Duration,
    /// Run the members inside this network namespace (a cluster on the real control plane).
    pub netns: Option<Arc<crate::real::NetNs>>,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            peer_tls: true,
            metrics: false,
            timeout: Duration::from_secs(60),
            netns: None,
        }
    }
}

/// One running member.
#[derive(Debug)]
pub struct EtcdMember {
    pub name: String,
    pub ip: Ipv4Addr,
    /// `https://IP:2379`
    pub client_url: String,
    /// `https://IP:2380` (`http://` without peer TLS)
    pub peer_url: String,
    /// `http://IP:2381` when enabled.
    pub metrics_url: Option<String>,
    pub data_dir: PathBuf,
    /// etcd's stdout and stderr.
    pub log: PathBuf,
    child: Option<Child>,
}

impl EtcdMember {
    /// The member's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }
}

/// A running etcd cluster; dropping it kills every member.
#[derive(Debug)]
pub struct EtcdCluster {
    pub pki: EtcdPki,
    pub members: Vec<EtcdMember>,
}

fn member_command(
    m: &MemberFiles,
    all: &[MemberFiles],
    dir: &Path,
    opts: &EtcdOptions,
    token: &str,
) -> Result<(Command, EtcdMember)> {
    let peer_scheme = if opts.peer_tls { "https" } else { "http" };
    let client_url = format!("https://{}:2379", m.ip);
    let peer_url = format!("{peer_scheme}://{}:2380", m.ip);
    let initial: Vec<String> = all
        .iter()
        .map(|o| format!("{}={peer_scheme}://{}:2380", o.host, o.ip))
        .collect();
    let data_dir = dir.join(format!("etcd-{}", m.host)).join("data");
    let log = dir.join(format!("etcd-{}", m.host)).join("etcd.log");
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let logf =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut c = Command::new(PATH);
    c.env_clear();
    c.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    c.arg(format!("--name={}", m.host))
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster={}", initial.join(",")))
        .arg("--initial-cluster-state=new")
        .arg(format!("--initial-cluster-token={token}"))
        .arg("--client-cert-auth=true")
        .arg(format!("--trusted-ca-file={}", m.ca.display()))
        .arg(format!("--cert-file={}", m.server.cert.display()))
        .arg(format!("--key-file={}", m.server.key.display()))
        .arg("--snapshot-count=10000")
        .arg("--logger=zap")
        .arg("--log-outputs=stderr");
    if opts.peer_tls {
        c.arg("--peer-client-cert-auth=true")
            .arg(format!("--peer-trusted-ca-file={}", m.ca.display()))
            .arg(format!("--peer-cert-file={}", m.peer.cert.display()))
            .arg(format!("--peer-key-file={}", m.peer.key.display()));
    }
    let metrics_url = opts.metrics.then(|| format!("http://{}:2381", m.ip));
    if let Some(u) = &metrics_url {
        c.arg(format!("--listen-metrics-urls={u}"));
    }
    c.stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .kill_on_drop(true);
    if let Some(ns) = &opts.netns {
        ns.enter_on_exec(&mut c)?;
    }
    super::die_with_parent(&mut c);
    Ok((
        c,
        EtcdMember {
            name: m.host.clone(),
            ip: m.ip,
            client_url,
            peer_url,
            metrics_url,
            data_dir,
            log,
            child: None,
        },
    ))
}

impl EtcdCluster {
    /// Start one member per host of `pki` (its IP and certificates), data and logs under `dir`,
    /// and wait until every member answers `/health` over mTLS with the apiserver's client
    /// certificate.
    pub async fn start(pki: &EtcdPki, dir: &Path, opts: EtcdOptions) -> Result<EtcdCluster> {
        if !Path::new(PATH).exists() {
            bail!(
                "{PATH} not found: install the Debian package `etcd-server` (apt-get install etcd-server)"
            );
        }
        let token = format!(
            "promfix-{}",
            dir.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let mut cluster = EtcdCluster {
            pki: pki.clone(),
            members: Vec::new(),
        };
        for m in &pki.members {
            let (mut cmd, mut member) = member_command(m, &pki.members, dir, &opts, &token)?;
            let child = cmd.spawn().with_context(|| format!("starting {PATH}"))?;
            member.child = Some(child);
            cluster.members.push(member);
        }
        cluster.wait_healthy(opts.timeout).await?;
        Ok(cluster)
    }

    /// A client configuration with the kube-apiserver's etcd client certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        tls_client_config(
            &self.pki.ca.cert,
            Some((&self.pki.client.cert, &self.pki.client.key)),
        )
    }

    async fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let cfg = self.client_config()?;
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = (0..self.members.len()).collect();
        let mut last_err = String::new();
        while !pending.is_empty() {
            for m in &mut self.members {
                if let Some(c) = m.child.as_mut()
                    && let Ok(Some(status)) = c.try_wait()
                {
                    bail!(
                        "etcd member {} exited ({status}); log {}:\n{}",
                        m.name,
                        m.log.display(),
                        log_tail(&m.log, 30)
                    );
                }
            }
            let mut still = Vec::new();
            for i in pending {
                let m = &self.members[i];
                let name = self.pki.serving_name.as_deref();
                let health = https_get_named(cfg.clone(), m.ip, 2379, name, "/health", TWO_S);
                match health.await {
                    Ok(r) if r.status == 200 && r.text().contains("\"health\":\"true\"") => {}
                    Ok(r) => {
                        last_err =
                            format!("{}: /health answered {} {}", m.name, r.status, r.text());
                        still.push(i);
                    }
                    Err(e) => {
                        last_err = format!("{}: {e:#}", m.name);
                        still.push(i);
                    }
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let m = &self.members[pending[0]];
                bail!(
                    "etcd did not become healthy within {timeout:?} ({last_err}); log {}:\n{}",
                    m.log.display(),
                    log_tail(&m.log, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Kill every member and wait for them to exit.
    pub async fn stop(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill().await;
            }
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(c) = m.child.as_mut() {
                let _ = c.start_kill();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::certs::{Layout, generate, generate_named, mint_foreign_client};
    use super::super::https_get;
    use super::*;

    const NET: u8 = 231;

    fn hosts() -> Vec<(String, Ipv4Addr)> {
        (11..=13)
            .map(|i| (format!("node{}", i - 10), Ipv4Addr::new(127, NET, 2, i)))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_members_with_client_cert_auth() {
        let t = tempfile::tempdir().unwrap();
        let pki = generate(Layout::Kubespray, &hosts(), &t.path().join("nodes")).unwrap();
        let etcd = EtcdCluster::start(
            &pki,
            t.path(),
            EtcdOptions {
                metrics: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(etcd.members.len(), 3);
        let ip = Ipv4Addr::new(127, NET, 2, 12);
        let to = Duration::from_secs(5);
        // with the apiserver's client certificate: metrics
        let r = https_get(etcd.client_config().unwrap(), ip, 2379, "/metrics", to)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.text().contains("etcd_server_has_leader 1"),
            "{}",
            r.text()
        );
        // the kubeadm-style plain metrics listener
        let r = crate::peers::http_request("GET", ip, 2381, "/metrics", to)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        // without a client certificate: the handshake is refused
        let none = tls_client_config(&pki.ca.cert, None).unwrap();
        let e = https_get(none, ip, 2379, "/metrics", to).await.unwrap_err();
        let e = format!("{e:#}");
        eprintln!("no client cert: {e}");
        assert!(
            e.contains("CertificateRequired")
                || e.contains("BadCertificate")
                || e.contains("HandshakeFailure"),
            "{e}"
        );
        // a client certificate from another CA: bad certificate
        let (foreign, _) = mint_foreign_client(&t.path().join("bad"), "foreign").unwrap();
        let cfg = tls_client_config(&pki.ca.cert, Some((&foreign.cert, &foreign.key))).unwrap();
        let e = format!(
            "{:#}",
            https_get(cfg, ip, 2379, "/metrics", to).await.unwrap_err()
        );
        eprintln!("foreign client cert: {e}");
        assert!(e.contains("BadCertificate"), "{e}");
        // an expired client certificate from the right CA
        let exp = pki
            .mint_expired_client(&t.path().join("bad"), "expired")
            .unwrap();
        let cfg = tls_client_config(&pki.ca.cert, Some((&exp.cert, &exp.key))).unwrap();
        let e = format!(
            "{:#}",
            https_get(cfg, ip, 2379, "/metrics", to).await.unwrap_err()
        );
        assert!(e.contains("BadCertificate"), "{e}");
        // a certificate without clientAuth
        let srv = pki
            .mint_server_only(&t.path().join("bad"), "server-only")
            .unwrap();
        let cfg = tls_client_config(&pki.ca.cert, Some((&srv.cert, &srv.key))).unwrap();
        let e = format!(
            "{:#}",
            https_get(cfg, ip, 2379, "/metrics", to).await.unwrap_err()
        );
        assert!(
            e.contains("BadCertificate") || e.contains("UnsupportedCertificate"),
            "{e}"
        );
        let pids: Vec<u32> = etcd.members.iter().filter_map(EtcdMember::pid).collect();
        assert_eq!(pids.len(), 3);
        drop(etcd);
        tokio::time::sleep(Duration::from_millis(500)).await;
        for p in pids {
            assert!(
                !Path::new(&format!("/proc/{p}")).exists() || is_zombie(p),
                "etcd {p} still runs"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kubeadm_layout_member_with_plain_peers() {
        const NET2: u8 = 230;
        let hosts = vec![("cp1".to_string(), Ipv4Addr::new(127, NET2, 2, 11))];
        let t = tempfile::tempdir().unwrap();
        let pki = generate(Layout::Kubeadm, &hosts, &t.path().join("nodes")).unwrap();
        let etcd = EtcdCluster::start(
            &pki,
            t.path(),
            EtcdOptions {
                peer_tls: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(etcd.members[0].peer_url, "http://127.230.2.11:2380");
        assert!(
            pki.client
                .cert
                .ends_with("cp1/etc/kubernetes/pki/apiserver-etcd-client.crt")
        );
        let r = https_get(
            etcd.client_config().unwrap(),
            hosts[0].1,
            2379,
            "/health",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// A PKI made for a name: three members whose client-serving certificates carry only
    /// DNS names form a cluster (their peers dial each other with certificates of their own),
    /// answer a client that checks the name, and fail one that checks the address.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_serving_a_name_only_answer_by_that_name() {
        const NET3: u8 = 229;
        let hosts: Vec<(String, Ipv4Addr)> = (11..=13)
            .map(|i| (format!("node{}", i - 10), Ipv4Addr::new(127, NET3, 2, i)))
            .collect();
        let t = tempfile::tempdir().unwrap();
        let names = vec!["etcd.example.internal".to_string()];
        let pki =
            generate_named(Layout::Kubespray, &hosts, &t.path().join("nodes"), &names).unwrap();
        assert_eq!(pki.serving_name.as_deref(), Some("etcd.example.internal"));
        assert_ne!(pki.members[0].server, pki.members[0].peer);
        let etcd = EtcdCluster::start(&pki, t.path(), EtcdOptions::default())
            .await
            .unwrap();
        let cfg = etcd.client_config().unwrap();
        let (ip, to) = (hosts[1].1, Duration::from_secs(5));
        let r = https_get_named(cfg.clone(), ip, 2379, Some(&names[0]), "/metrics", to)
            .await
            .unwrap();
        assert!(
            r.text().contains("etcd_server_has_leader 1"),
            "{}",
            r.text()
        );
        let e = format!(
            "{:#}",
            https_get(cfg, ip, 2379, "/metrics", to).await.unwrap_err()
        );
        assert!(e.contains("not valid for name"), "{e}");
    }

    fn is_zombie(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    }
}
