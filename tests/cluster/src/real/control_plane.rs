//! The real control plane of a test cluster: etcd (the store), kube-apiserver,
//! kube-controller-manager and kube-scheduler, built from their Go modules by `tests/k8s/build`,
//! each a process inside the cluster's network namespace, started with the flags kubeadm gives
//! them (`cmd/kubeadm/app/phases/controlplane/manifests.go`) where they matter here.
//!
//! Addresses (slot S, see `netns.rs`): the API server on `198.18.S.1:6443` (its advertise address,
//! so the `kubernetes` Endpoints list it); Services get ClusterIPs from `198.18.S.224/27`, inside
//! the namespace's local range, so nothing sent to one leaves the namespace; the store's etcd
//! listens on the namespace's own loopback (`127.0.0.1:12379`), out of the way of the etcd
//! members a scenario runs on its node addresses.

use super::netns::NetNs;
use super::pki::ControlPlanePki;
use super::{Bins, Proc};
use crate::peers::{https_get, log_tail, tls_client_config};
use anyhow::{Context, Result, bail};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The host byte of the API server's address.
pub const APISERVER_HOST: u8 = 1;
/// The secure port (kubeadm's default).
pub const APISERVER_PORT: u16 = 6443;

/// A user of the static token file (`--token-auth-file`): `token,user,uid,"group1,group2"`.
#[derive(Debug, Clone)]
pub struct TokenUser {
    pub name: String,
    pub token: String,
    pub groups: Vec<String>,
}

impl TokenUser {
    /// A user without groups and with a random token.
    pub fn new(name: &str) -> TokenUser {
        TokenUser {
            name: name.into(),
            token: random_token(name),
            groups: vec![],
        }
    }
}

/// How to start the control plane.
#[derive(Debug, Clone, Default)]
pub struct ControlPlaneOptions {
    /// Users that authenticate with a bearer token (besides the admin's client certificate).
    pub users: Vec<TokenUser>,
    /// Extra `--flag=value` arguments for kube-apiserver.
    pub apiserver_args: Vec<String>,
    /// How long to wait for `/readyz` (default 120 s: a cold start on 2 busy cores).
    pub timeout: Option<Duration>,
    /// kube-controller-manager and kube-scheduler run elsewhere (as static pods of a
    /// control-plane node, `agent/static_pods.rs`): start neither here, or there would be two of
    /// each. Their identities and kubeconfigs are made all the same.
    pub no_controllers: bool,
}

/// A running control plane; dropping it kills every component and removes the namespace.
pub struct ControlPlane {
    pub ns: Arc<NetNs>,
    pub pki: ControlPlanePki,
    /// `https://198.18.S.1:6443`
    pub server: String,
    pub apiserver_ip: Ipv4Addr,
    /// The first address of the Service range: the `kubernetes` Service's ClusterIP.
    pub service_ip: Ipv4Addr,
    /// kubeconfig with context `promfix-real` (the admin) and one context per token user.
    pub kubeconfig: PathBuf,
    pub users: Vec<TokenUser>,
    /// The admin as a token user (for the fault proxy).
    pub admin: TokenUser,
    /// kube-controller-manager's identity (`controller-manager.conf`).
    pub kcm: TokenUser,
    /// kube-scheduler's identity (`scheduler.conf`).
    pub scheduler: TokenUser,
    /// How long `start` took until `/readyz` answered ok.
    pub started_in: Duration,
    procs: Vec<Proc>,
    dir: tempfile::TempDir,
}

fn kubeconfig_yaml(
    server: &str,
    ca: &Path,
    admin: (&Path, &Path),
    users: &[TokenUser],
    current: &str,
) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: promfix-real\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    client-certificate: {}\n    client-key: {}\n",
        ca.display(),
        admin.0.display(),
        admin.1.display()
    );
    for u in users {
        s.push_str(&format!(
            "- name: {}\n  user:\n    token: {}\n",
            u.name, u.token
        ));
    }
    s.push_str(
        "contexts:\n- name: promfix-real\n  context:\n    cluster: promfix-real\n    user: admin\n",
    );
    for u in users {
        s.push_str(&format!(
            "- name: {0}\n  context:\n    cluster: promfix-real\n    user: {0}\n",
            u.name
        ));
    }
    s.push_str(&format!("current-context: {current}\n"));
    s
}

fn token_file(users: &[TokenUser]) -> String {
    users
        .iter()
        .map(|u| {
            format!(
                "{},{},{},\"{}\"\n",
                u.token,
                u.name,
                u.name,
                u.groups.join(",")
            )
        })
        .collect()
}

/// A random token (hex), from the OS's entropy.
pub fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 16];
    // /dev/urandom is always there on Linux; a short read leaves zeros, still unique enough with
    // the prefix for a test cluster.
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}-{hex}")
}

impl ControlPlane {
    /// Start etcd, kube-apiserver, kube-controller-manager and kube-scheduler in a new network
    /// namespace, and wait until the API server is ready.
    pub async fn start(opts: ControlPlaneOptions) -> Result<ControlPlane> {
        let bins = Bins::get()?;
        let t0 = Instant::now();
        let ns = Arc::new(NetNs::create()?);
        let dir = tempfile::Builder::new()
            .prefix(&format!("promfix-real-{}-", ns.slot))
            .tempdir()
            .context("creating the cluster's directory")?;
        let apiserver_ip = ns.addr(APISERVER_HOST);
        let service_ip = ns.addr(225);
        let pki_dir = dir.path().join("etc/kubernetes/pki");
        let pki = ControlPlanePki::generate(&pki_dir, apiserver_ip, service_ip, ns.veth_host())?;
        let server = format!("https://{apiserver_ip}:{APISERVER_PORT}");

        // The components' own identities, as kubeadm's controller-manager.conf and scheduler.conf.
        let kcm = TokenUser {
            name: "system:kube-controller-manager".into(),
            token: random_token("kcm"),
            groups: vec![],
        };
        let sched = TokenUser {
            name: "system:kube-scheduler".into(),
            token: random_token("sched"),
            groups: vec![],
        };
        // The admin's token: what it authenticates with through the fault proxy (a client
        // certificate cannot pass a TLS-terminating proxy).
        let admin_user = TokenUser {
            name: "admin".into(),
            token: random_token("admin"),
            groups: vec!["system:masters".into()],
        };
        let mut all = vec![kcm.clone(), sched.clone(), admin_user.clone()];
        all.extend(opts.users.iter().cloned());
        let tokens = dir.path().join("etc/kubernetes/tokens.csv");
        crate::peers::certs::write_file(&tokens, &token_file(&all), 0o600)?;
        let admin = (pki.admin.cert.as_path(), pki.admin.key.as_path());
        let kubeconfig = dir.path().join("admin.conf");
        std::fs::write(
            &kubeconfig,
            kubeconfig_yaml(&server, &pki.ca.cert, admin, &opts.users, "promfix-real"),
        )?;
        let conf = |u: &TokenUser, file: &str| -> Result<PathBuf> {
            let p = dir.path().join("etc/kubernetes").join(file);
            let users = std::slice::from_ref(u);
            std::fs::write(
                &p,
                kubeconfig_yaml(&server, &pki.ca.cert, admin, users, &u.name),
            )?;
            Ok(p)
        };
        let kcm_conf = conf(&kcm, "controller-manager.conf")?;
        let sched_conf = conf(&sched, "scheduler.conf")?;

        let mut cp = ControlPlane {
            ns: ns.clone(),
            pki: pki.clone(),
            server: server.clone(),
            apiserver_ip,
            service_ip,
            kubeconfig,
            users: opts.users.clone(),
            admin: admin_user,
            kcm: kcm.clone(),
            scheduler: sched.clone(),
            started_in: Duration::ZERO,
            procs: Vec::new(),
            dir,
        };
        let root = cp.dir.path().to_path_buf();
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs)?;

        let etcd_data = root.join("var/lib/etcd");
        std::fs::create_dir_all(&etcd_data)?;
        cp.procs.push(Proc::spawn(
            &ns,
            "etcd",
            &bins.path("etcd")?,
            &[
                "--name=store".into(),
                format!("--data-dir={}", etcd_data.display()),
                "--listen-client-urls=http://127.0.0.1:12379".into(),
                "--advertise-client-urls=http://127.0.0.1:12379".into(),
                "--listen-peer-urls=http://127.0.0.1:12380".into(),
                "--initial-advertise-peer-urls=http://127.0.0.1:12380".into(),
                "--initial-cluster=store=http://127.0.0.1:12380".into(),
                // A test cluster's store need not survive a power cut.
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
            &logs,
        )?);

        let range = format!("{}/27", ns.addr(224));
        let mut api_args = vec![
            format!("--advertise-address={apiserver_ip}"),
            format!("--bind-address={apiserver_ip}"),
            format!("--secure-port={APISERVER_PORT}"),
            "--etcd-servers=http://127.0.0.1:12379".into(),
            format!("--service-cluster-ip-range={range}"),
            format!("--cert-dir={}", root.join("apiserver-certs").display()),
            format!("--tls-cert-file={}", pki.apiserver.cert.display()),
            format!("--tls-private-key-file={}", pki.apiserver.key.display()),
            format!("--client-ca-file={}", pki.ca.cert.display()),
            format!("--token-auth-file={}", tokens.display()),
            format!(
                "--kubelet-client-certificate={}",
                pki.apiserver_kubelet_client.cert.display()
            ),
            format!(
                "--kubelet-client-key={}",
                pki.apiserver_kubelet_client.key.display()
            ),
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
            "--authorization-mode=Node,RBAC".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            "--allow-privileged=true".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", pki.sa_pub.display()),
            format!(
                "--service-account-signing-key-file={}",
                pki.sa_key.display()
            ),
            "--profiling=false".into(),
            "--v=1".into(),
        ];
        api_args.extend(opts.apiserver_args.iter().cloned());
        cp.procs.push(Proc::spawn(
            &ns,
            "kube-apiserver",
            &bins.path("kube-apiserver")?,
            &api_args,
            &logs,
        )?);
        let timeout = opts.timeout.unwrap_or(Duration::from_secs(120));
        cp.wait_ready(timeout).await?;
        // kubeadm's binding of the API server's kubelet client to the kubelet API
        // (phases/bootstraptoken/node/tlsbootstrap.go): the node agent's webhook authorizer asks.
        cp.kubectl_ok(&[
            "create",
            "clusterrolebinding",
            "kubeadm:apiserver-kubelet-client",
            "--clusterrole=system:kubelet-api-admin",
            "--user=kube-apiserver-kubelet-client",
        ])?;

        if opts.no_controllers {
            cp.started_in = t0.elapsed();
            return Ok(cp);
        }
        cp.procs.push(Proc::spawn(
            &ns,
            "kube-controller-manager",
            &bins.path("kube-controller-manager")?,
            &[
                format!("--kubeconfig={}", kcm_conf.display()),
                format!("--authentication-kubeconfig={}", kcm_conf.display()),
                format!("--authorization-kubeconfig={}", kcm_conf.display()),
                format!("--bind-address={apiserver_ip}"),
                format!("--client-ca-file={}", pki.ca.cert.display()),
                format!("--root-ca-file={}", pki.ca.cert.display()),
                format!("--cluster-signing-cert-file={}", pki.ca.cert.display()),
                format!("--cluster-signing-key-file={}", pki.ca.key.display()),
                format!(
                    "--service-account-private-key-file={}",
                    pki.sa_key.display()
                ),
                format!("--service-cluster-ip-range={range}"),
                "--use-service-account-credentials=true".into(),
                "--controllers=*,bootstrapsigner,tokencleaner".into(),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
                "--v=1".into(),
            ],
            &logs,
        )?);
        cp.procs.push(Proc::spawn(
            &ns,
            "kube-scheduler",
            &bins.path("kube-scheduler")?,
            &[
                format!("--kubeconfig={}", sched_conf.display()),
                format!("--authentication-kubeconfig={}", sched_conf.display()),
                format!("--authorization-kubeconfig={}", sched_conf.display()),
                format!("--bind-address={apiserver_ip}"),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
                "--v=1".into(),
            ],
            &logs,
        )?);
        cp.started_in = t0.elapsed();
        Ok(cp)
    }

    /// Start the fault and request-log proxy in front of the API server, and write a kubeconfig
    /// through it (`proxy.conf`): context `promfix-real` is the admin (by token), one context per
    /// token user.
    pub async fn start_proxy(&self) -> Result<(super::proxy::FaultProxy, PathBuf)> {
        let mut users: std::collections::HashMap<String, String> = self
            .users
            .iter()
            .map(|u| (u.token.clone(), u.name.clone()))
            .collect();
        users.insert(self.admin.token.clone(), self.admin.name.clone());
        let proxy = super::proxy::FaultProxy::start(
            self.ns.veth_host(),
            std::net::SocketAddr::from((self.apiserver_ip, APISERVER_PORT)),
            &self.pki.ca.cert,
            (&self.pki.proxy.cert, &self.pki.proxy.key),
            users,
        )
        .await?;
        let mut s = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: promfix-real\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n",
            proxy.url,
            self.pki.ca.cert.display()
        );
        let all: Vec<&TokenUser> = std::iter::once(&self.admin).chain(&self.users).collect();
        for u in &all {
            s.push_str(&format!(
                "- name: {}\n  user:\n    token: {}\n",
                u.name, u.token
            ));
        }
        s.push_str("contexts:\n");
        for u in &all {
            let ctx = if u.name == self.admin.name {
                "promfix-real"
            } else {
                &u.name
            };
            s.push_str(&format!(
                "- name: {ctx}\n  context:\n    cluster: promfix-real\n    user: {}\n",
                u.name
            ));
        }
        s.push_str("current-context: promfix-real\n");
        let path = self.dir.path().join("proxy.conf");
        std::fs::write(&path, s)?;
        Ok((proxy, path))
    }

    /// A self-contained kubeconfig for `user` (the CA embedded, as kubeadm writes a node's
    /// `/etc/kubernetes/*.conf`): for a component that runs in a sandbox where this cluster's
    /// directory is not visible.
    pub fn embedded_kubeconfig(&self, user: &TokenUser) -> Result<String> {
        use base64::Engine;
        let ca = std::fs::read(&self.pki.ca.cert).context("reading the cluster CA")?;
        let ca = base64::engine::general_purpose::STANDARD.encode(ca);
        Ok(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: {1}\n  user:\n    token: {2}\ncontexts:\n- name: {1}@kubernetes\n  context:\n    cluster: kubernetes\n    user: {1}\ncurrent-context: {1}@kubernetes\n",
            self.server, user.name, user.token
        ))
    }

    /// The cluster's directory (PKI, kubeconfigs, logs, etcd's data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A component's log file.
    pub fn log(&self, component: &str) -> PathBuf {
        self.dir
            .path()
            .join("logs")
            .join(format!("{component}.log"))
    }

    /// A kubectl command for the admin against this cluster.
    pub fn kubectl(&self) -> std::process::Command {
        let mut c = std::process::Command::new("kubectl");
        c.env("KUBECONFIG", &self.kubeconfig);
        c
    }

    /// Run kubectl with `args`; its stdout, or an error with its stderr.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self
            .kubectl()
            .args(args)
            .output()
            .context("running kubectl")?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// GET `path` as the admin (client certificate).
    pub async fn get(&self, path: &str) -> Result<crate::peers::Response> {
        let cfg = tls_client_config(
            &self.pki.ca.cert,
            Some((&self.pki.admin.cert, &self.pki.admin.key)),
        )?;
        https_get(
            cfg,
            self.apiserver_ip,
            APISERVER_PORT,
            path,
            Duration::from_secs(10),
        )
        .await
    }

    /// Fail with the component's log if any component has exited.
    pub fn check_running(&self) -> Result<()> {
        for p in &self.procs {
            p.check_running()?;
        }
        Ok(())
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            let last = match self.get("/readyz").await {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("/readyz answered {}: {}", r.status, r.text()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver at {} was not ready within {timeout:?} ({last}); its log ({}):\n{}",
                    self.server,
                    self.log("kube-apiserver").display(),
                    log_tail(&self.log("kube-apiserver"), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
