//! What `tests/sandbox` prints for a cluster it started (the real control plane, the stand-in, and
//! `--demo` alike): the two export lines a user pastes into another shell, and the plugin commands
//! that work as printed once they are pasted.
//!
//! Paths to the etcd client files are relative to `$ETCD_CERTS_DIR`, taken from the real files
//! (`strip_prefix`), not from their bare names: on the kubeadm layout `ETCD_CERTS_DIR` is the pki
//! directory, whose etcd CA is `etcd/ca.crt` and whose kube-apiserver client certificate is
//! `apiserver-etcd-client.crt` one level above it.

use crate::peers::certs::{EtcdPki, Layout};
use std::path::Path;

/// The lines the sandbox prints about a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellLines {
    /// `export KUBECONFIG=...` and `export ETCD_CERTS_DIR=...`, in that order, always both (the
    /// second empty, with a comment saying why, when the cluster has no etcd client certificates).
    pub exports: [String; 2],
    /// The plugin commands to try, as typed after pasting the exports (lines starting with `#`
    /// are comments).
    pub promfix: Vec<String>,
}

/// `$ETCD_CERTS_DIR/<path relative to it>` for a file below `certs_dir`; the file's own path when
/// it is not below it.
pub fn under_certs_dir(certs_dir: &Path, file: &Path) -> String {
    match file.strip_prefix(certs_dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => format!("$ETCD_CERTS_DIR/{}", rel.display()),
        _ => file.display().to_string(),
    }
}

/// The `--ca`, `--cert` and `--key` arguments for the kube-apiserver's own etcd client files
/// (what the seed copied), relative to `$ETCD_CERTS_DIR` (unquoted).
pub fn etcd_file_args(certs_dir: &Path, pki: &EtcdPki) -> [String; 3] {
    [&pki.ca.cert, &pki.client.cert, &pki.client.key].map(|f| under_certs_dir(certs_dir, f))
}

/// A word for `export NAME=<word>`: as it is when the shell leaves it alone, single-quoted
/// otherwise.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Inside double quotes, keeping `$ETCD_CERTS_DIR` expanded and everything else literal.
fn double_quoted(s: &str) -> String {
    let (var, rest) = match s.strip_prefix("$ETCD_CERTS_DIR") {
        Some(rest) => ("$ETCD_CERTS_DIR", rest),
        None => ("", s),
    };
    let mut out = String::from("\"");
    out.push_str(var);
    for c in rest.chars() {
        if matches!(c, '"' | '$' | '`' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The export lines and plugin commands for a cluster with this kubeconfig and, when it has etcd
/// client certificates, their directory and PKI.
pub fn shell_lines(
    kubeconfig: &Path,
    certs_dir: Option<&Path>,
    pki: Option<&EtcdPki>,
) -> ShellLines {
    let kc = format!(
        "export KUBECONFIG={}",
        shell_word(&kubeconfig.display().to_string())
    );
    let (Some(dir), Some(pki)) = (certs_dir, pki) else {
        return ShellLines {
            exports: [
                kc,
                "export ETCD_CERTS_DIR=  # empty: this scenario runs no etcd members, so there are no etcd client certificates".into(),
            ],
            promfix: vec![
                "# No etcd here: kubectl promfix etcd has nothing to work with; doctor says what this cluster's scrapes need:".into(),
                "kubectl promfix doctor".into(),
            ],
        };
    };
    let [ca, cert, key] = etcd_file_args(dir, pki).map(|a| double_quoted(&a));
    let explicit = format!("kubectl promfix etcd --ca {ca} --cert {cert} --key {key}");
    let promfix = match pki.layout {
        Layout::Kubeadm => vec![
            "kubectl promfix etcd --from-dir \"$ETCD_CERTS_DIR\"".into(),
            "# or the kube-apiserver's own client certificate, by name:".into(),
            explicit,
            "kubectl promfix verify".into(),
        ],
        Layout::Kubespray => vec![explicit, "kubectl promfix verify".into()],
    };
    ShellLines {
        exports: [
            kc,
            format!(
                "export ETCD_CERTS_DIR={}",
                shell_word(&dir.display().to_string())
            ),
        ],
        promfix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::certs::CertFiles;
    use std::path::PathBuf;

    fn files(cert: &str, key: &str) -> CertFiles {
        CertFiles {
            cert: cert.into(),
            key: key.into(),
        }
    }

    fn kubeadm() -> (PathBuf, EtcdPki) {
        let pki = "/tmp/c/etcd-pki/node1/etc/kubernetes/pki";
        let p = EtcdPki {
            layout: Layout::Kubeadm,
            dir: "/tmp/c/etcd-pki".into(),
            ca: files(&format!("{pki}/etcd/ca.crt"), &format!("{pki}/etcd/ca.key")),
            client: files(
                &format!("{pki}/apiserver-etcd-client.crt"),
                &format!("{pki}/apiserver-etcd-client.key"),
            ),
            members: vec![],
            serving_name: None,
        };
        (pki.into(), p)
    }

    fn kubespray() -> (PathBuf, EtcdPki) {
        let ssl = "/tmp/c/etcd-pki/node1/etc/ssl/etcd/ssl";
        let p = EtcdPki {
            layout: Layout::Kubespray,
            dir: "/tmp/c/etcd-pki".into(),
            ca: files(&format!("{ssl}/ca.pem"), &format!("{ssl}/ca-key.pem")),
            client: files(
                &format!("{ssl}/node-node1.pem"),
                &format!("{ssl}/node-node1-key.pem"),
            ),
            members: vec![],
            serving_name: None,
        };
        (ssl.into(), p)
    }

    #[test]
    fn kubeadm_names_the_ca_below_etcd_and_offers_from_dir() {
        let (dir, p) = kubeadm();
        let l = shell_lines(Path::new("/tmp/cp/kubeconfig"), Some(&dir), Some(&p));
        assert_eq!(
            l.exports,
            [
                "export KUBECONFIG=/tmp/cp/kubeconfig".to_string(),
                "export ETCD_CERTS_DIR=/tmp/c/etcd-pki/node1/etc/kubernetes/pki".to_string(),
            ]
        );
        assert_eq!(
            l.promfix,
            [
                "kubectl promfix etcd --from-dir \"$ETCD_CERTS_DIR\"",
                "# or the kube-apiserver's own client certificate, by name:",
                "kubectl promfix etcd --ca \"$ETCD_CERTS_DIR/etcd/ca.crt\" --cert \"$ETCD_CERTS_DIR/apiserver-etcd-client.crt\" --key \"$ETCD_CERTS_DIR/apiserver-etcd-client.key\"",
                "kubectl promfix verify",
            ]
        );
    }

    #[test]
    fn kubespray_names_the_files_in_the_directory() {
        let (dir, p) = kubespray();
        let l = shell_lines(Path::new("/k"), Some(&dir), Some(&p));
        assert_eq!(
            l.exports[1],
            "export ETCD_CERTS_DIR=/tmp/c/etcd-pki/node1/etc/ssl/etcd/ssl"
        );
        assert_eq!(
            l.promfix,
            [
                "kubectl promfix etcd --ca \"$ETCD_CERTS_DIR/ca.pem\" --cert \"$ETCD_CERTS_DIR/node-node1.pem\" --key \"$ETCD_CERTS_DIR/node-node1-key.pem\"",
                "kubectl promfix verify",
            ]
        );
        // The demo's step 2 (quoted by the README) uses the same relative paths, unquoted.
        assert_eq!(
            etcd_file_args(&dir, &p),
            [
                "$ETCD_CERTS_DIR/ca.pem",
                "$ETCD_CERTS_DIR/node-node1.pem",
                "$ETCD_CERTS_DIR/node-node1-key.pem",
            ]
        );
    }

    #[test]
    fn without_etcd_both_exports_are_printed_and_doctor_is_suggested() {
        for (dir, pki) in [
            (None, None),
            // A directory without its PKI (or the other way round) is no usable set either.
            (Some(Path::new("/tmp/x")), None),
        ] {
            let l = shell_lines(Path::new("/tmp/cp/kubeconfig"), dir, pki);
            assert_eq!(l.exports[0], "export KUBECONFIG=/tmp/cp/kubeconfig");
            assert!(
                l.exports[1].starts_with("export ETCD_CERTS_DIR=  # "),
                "{:?}",
                l.exports[1]
            );
            assert!(l.exports[1].contains("no etcd"), "{:?}", l.exports[1]);
            let cmds: Vec<_> = l.promfix.iter().filter(|c| !c.starts_with('#')).collect();
            assert_eq!(cmds, ["kubectl promfix doctor"]);
            assert!(!l.promfix.iter().any(|c| c.contains("$ETCD_CERTS_DIR")));
        }
    }

    #[test]
    fn a_file_outside_the_directory_keeps_its_own_path() {
        let (_, p) = kubeadm();
        let [ca, ..] = etcd_file_args(Path::new("/elsewhere"), &p);
        assert_eq!(ca, "/tmp/c/etcd-pki/node1/etc/kubernetes/pki/etcd/ca.crt");
    }

    #[test]
    fn odd_paths_are_quoted_for_the_shell() {
        assert_eq!(shell_word("/tmp/a b/k'c"), r"'/tmp/a b/k'\''c'");
        assert_eq!(shell_word("/tmp/promfix-x.1/kc"), "/tmp/promfix-x.1/kc");
        assert_eq!(
            double_quoted("$ETCD_CERTS_DIR/a\"$b"),
            r#""$ETCD_CERTS_DIR/a\"\$b""#
        );
        assert_eq!(double_quoted("/abs/ca.crt"), "\"/abs/ca.crt\"");
    }
}
