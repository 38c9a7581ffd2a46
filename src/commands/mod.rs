//! One module per command: each glues inputs, `kube`, the fixes' pure planning, `apply` and
//! `output` together.

pub mod control_plane;
pub mod doctor;
pub mod etcd;
pub mod kube_proxy;
pub mod kubelet;
pub mod rollback;
pub mod verify;
pub mod version;

/// Where a control-plane node keeps etcd's client certificates (kubeadm, kubespray, RKE2, k3s):
/// looked at when `--from-dir` is not given, so that a run on a node compares with its files.
const NODE_CERT_DIRS: &[&str] = &[
    "/etc/kubernetes/pki",
    "/etc/ssl/etcd/ssl",
    "/var/lib/rancher/rke2/server/tls/etcd",
    "/var/lib/rancher/k3s/server/tls/etcd",
];

/// The etcd client certificates on this machine, to compare with the Secret's copy: those of
/// `--from-dir` (an error when it holds none), else those of [`NODE_CERT_DIRS`] that can be read
/// (none: not on a node). Only certificate files are read, never a key.
pub fn node_client_certs(
    from_dir: Option<&std::path::Path>,
) -> crate::Result<Vec<crate::certs::life::FileCert>> {
    use std::path::PathBuf;
    let dirs: Vec<PathBuf> = match from_dir {
        Some(d) => vec![d.to_path_buf()],
        None => NODE_CERT_DIRS
            .iter()
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .collect(),
    };
    let mut out: Vec<crate::certs::life::FileCert> = Vec::new();
    for dir in dirs {
        let candidates = match crate::certs::intake::discover(&dir) {
            Ok(c) => c,
            Err(e) if from_dir.is_some() => return Err(e.into()),
            Err(_) => continue,
        };
        for c in candidates.iter().filter(|c| !c.server_cert) {
            let path = &c.paths.cert;
            let shown = path.display().to_string();
            if out.iter().any(|f| f.path == shown) {
                continue;
            }
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(source) if from_dir.is_some() => {
                    return Err(crate::Error::File {
                        what: "cannot read the client certificate",
                        path: path.clone(),
                        source,
                    });
                }
                Err(_) => continue,
            };
            match crate::certs::life::file_cert(&shown, &bytes) {
                Ok(f) => out.push(f),
                Err(e) if from_dir.is_some() => return Err(crate::Error::Input(e.to_string())),
                Err(_) => {}
            }
        }
    }
    Ok(out)
}
