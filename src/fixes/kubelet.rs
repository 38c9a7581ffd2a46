//! The kubelet fix, node side only: a kubelet with `authorization.mode: Webhook` but without
//! token webhook authentication cannot authenticate Prometheus' service-account token, treats
//! the request as `system:anonymous` and answers `403 Forbidden` (or 401 when anonymous
//! requests are off) on `/metrics` and `/metrics/cadvisor` (the seed: manually installed worker
//! kubelets, prometheus-operator#3941).
//!
//! The fix on each affected node: `authentication.webhook.enabled: true` in the kubelet config
//! file (`/var/lib/kubelet/config.yaml`, kubeadm), or `--authentication-token-webhook=true` on
//! the command line (the seed's fix, in the kubeadm drop-in
//! `/etc/systemd/system/kubelet.service.d/10-kubeadm.conf`; flags win over the config file, so a
//! `--authentication-token-webhook=false` there is turned around), the removed `--cadvisor-port`
//! flag dropped (kubelets >= 1.12 refuse to start with it), then `systemctl daemon-reload &&
//! systemctl restart kubelet`. Nothing is written to the cluster.

use serde_json::Value;

/// What one node's `/configz` says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub node: String,
    /// `authentication.webhook.enabled` (None: unknown, the configz could not be read).
    pub webhook_authentication: Option<bool>,
    pub anonymous_authentication: Option<bool>,
    pub authorization_mode: Option<String>,
    /// Prometheus' token is refused on this node.
    pub affected: bool,
    pub reason: String,
    /// Why the configz could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A kubelet's authentication and authorization, from its `/configz`: the one rule doctor and
/// the fix share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// `authentication.webhook.enabled` (token authentication).
    pub webhook: bool,
    /// `authentication.anonymous.enabled`.
    pub anonymous: bool,
    /// `authorization.mode` (default `AlwaysAllow`).
    pub mode: String,
}

impl Auth {
    /// From a `/configz` body (`{"kubeletconfig": {...}}`, or the configuration itself).
    pub fn of(configz: &Value) -> Auth {
        let cfg = configz.get("kubeletconfig").unwrap_or(configz);
        let enabled = |what: &str| cfg["authentication"][what]["enabled"].as_bool() == Some(true);
        Auth {
            webhook: enabled("webhook"),
            anonymous: enabled("anonymous"),
            mode: cfg["authorization"]["mode"]
                .as_str()
                .unwrap_or("AlwaysAllow")
                .to_string(),
        }
    }

    /// Prometheus' token is refused: token authentication is off while authorization checks
    /// who asks (403 as system:anonymous, or 401 without anonymous requests).
    pub fn refuses_token(&self) -> bool {
        !self.webhook && self.mode != "AlwaysAllow"
    }
}

/// Assess one node from its `/configz` body (`{"kubeletconfig": {...}}`).
pub fn assess(node: &str, configz: &Value) -> Finding {
    let Auth {
        webhook,
        anonymous,
        mode,
    } = Auth::of(configz);
    let (affected, reason) = match (webhook, mode.as_str()) {
        (true, _) => (false, "token webhook authentication is on".to_string()),
        (false, "AlwaysAllow") => (
            false,
            "no token authentication, but authorization AlwaysAllow lets every request in"
                .to_string(),
        ),
        (false, _) if anonymous => (
            true,
            format!(
                "token webhook authentication is off: Prometheus' token is ignored, the request is system:anonymous, \
                 and authorization {mode} answers 403 Forbidden"
            ),
        ),
        (false, _) => (
            true,
            "token webhook authentication is off and anonymous requests too: 401 Unauthorized"
                .to_string(),
        ),
    };
    Finding {
        node: node.into(),
        webhook_authentication: Some(webhook),
        anonymous_authentication: Some(anonymous),
        authorization_mode: Some(mode),
        affected,
        reason,
        error: None,
    }
}

/// A node whose `/configz` could not be read.
pub fn unknown(node: &str, error: String) -> Finding {
    Finding {
        node: node.into(),
        webhook_authentication: None,
        anonymous_authentication: None,
        authorization_mode: None,
        affected: false,
        reason: "the kubelet's /configz could not be read".into(),
        error: Some(error),
    }
}

/// The findings as a table with the node-side fix for the affected nodes.
/// kubeadm keeps the nodes' kubelet configuration in this ConfigMap and writes
/// `/var/lib/kubelet/config.yaml` back from it on `kubeadm upgrade node`.
pub const KUBEADM_CONFIG_MAP: &str = "kube-system/kubelet-config";

/// The cluster-side half of the fix on kubeadm clusters (one edit, from any machine with kubectl).
pub fn kubeadm_step() -> String {
    format!(
        "kubeadm keeps the kubelets' configuration in ConfigMap {KUBEADM_CONFIG_MAP} and writes /var/lib/kubelet/config.yaml back from it on `kubeadm upgrade node`: set the same there once, \
         `kubectl -n kube-system edit configmap kubelet-config` (data.kubelet: authentication.webhook.enabled: true), or the next upgrade undoes the node fix"
    )
}

/// `kubeadm`: ConfigMap kube-system/kubelet-config exists (the text then says to edit it too).
pub fn render(findings: &[Finding], script: Option<&str>, kubeadm: bool) -> String {
    let opt = |b: Option<bool>| b.map(|b| b.to_string()).unwrap_or_else(|| "?".into());
    let w = findings
        .iter()
        .map(|f| f.node.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:w$}  WEBHOOK-AUTHN  ANONYMOUS  AUTHZ-MODE   STATUS\n",
        "NODE"
    );
    for f in findings {
        let status = match (&f.error, f.affected) {
            (Some(e), _) => format!("unknown: {e}"),
            (None, true) => format!("AFFECTED: {}", f.reason),
            (None, false) => format!("ok: {}", f.reason),
        };
        out.push_str(&format!(
            "{:w$}  {:13}  {:9}  {:11}  {status}\n",
            f.node,
            opt(f.webhook_authentication),
            opt(f.anonymous_authentication),
            f.authorization_mode.as_deref().unwrap_or("?"),
        ));
    }
    let affected: Vec<&str> = findings
        .iter()
        .filter(|f| f.affected)
        .map(|f| f.node.as_str())
        .collect();
    if affected.is_empty() {
        out.push_str("\nNo kubelet refuses Prometheus' token: nothing to do on the nodes.\n");
        return out;
    }
    out.push_str(&format!(
        "\nOn each affected node ({}), as root (this tool changes nothing on the nodes):\n\
         1. /var/lib/kubelet/config.yaml: under `authentication:` set\n\
         \x20      webhook:\n\
         \x20        enabled: true\n\
         2. /etc/systemd/system/kubelet.service.d/10-kubeadm.conf (and /var/lib/kubelet/kubeadm-flags.env,\n\
         \x20  /etc/default/kubelet): `--authentication-token-webhook=false` → `--authentication-token-webhook=true`;\n\
         \x20  a kubelet without a config file gets `--authentication-token-webhook=true` next to\n\
         \x20  `--authorization-mode=Webhook` (the seed's fix); remove `--cadvisor-port=0` (the flag is gone since 1.12).\n\
         3. systemctl daemon-reload && systemctl restart kubelet\n",
        affected.join(", ")
    ));
    if kubeadm {
        out.push_str(&format!("4. Once, for the cluster: {}.\n", kubeadm_step()));
    }
    match script {
        Some(p) => out.push_str(&format!(
            "The same as an idempotent script: {p} (copy it to each affected node and run `sudo sh {p}`).\n"
        )),
        None => out.push_str("Write it as a script to run on the nodes with --script FILE.\n"),
    }
    out
}

/// The node-side fix as an idempotent POSIX shell script. Paths can be overridden with
/// KUBELET_CONFIG, KUBELET_DROPIN, KUBELET_FLAGS_ENV and KUBELET_DEFAULTS; the kubelet is
/// restarted only when a file changed.
/// The node-side fix for `nodes`; with none, an explicit no-op that says why (so a pipeline that
/// runs it everywhere changes nothing).
pub fn script(nodes: &[&str], kubeadm: bool) -> String {
    if nodes.is_empty() {
        return NO_OP.to_string();
    }
    let kubeadm_note = if kubeadm {
        format!(
            "#\n# Not done here (cluster-side, once): {}.\n",
            kubeadm_step()
        )
    } else {
        String::new()
    };
    SCRIPT
        .replace("@NODES@", &nodes.join(" "))
        .replace("@KUBEADM@\n", &kubeadm_note)
}

const NO_OP: &str = "#!/bin/sh\n# kubectl promfix kubelet: no kubelet needs the fix (every node's /configz that could be read\n# already lets Prometheus' token authenticate). Running this changes nothing.\nexit 0\n";

const SCRIPT: &str = r#"#!/bin/sh
# kubectl promfix kubelet: let Prometheus' service-account token authenticate to the kubelet.
# For the nodes: @NODES@
#
# 1. kubelet config file: authentication.webhook.enabled: true
# 2. command-line flags (kubeadm drop-in, kubeadm-flags.env, /etc/default/kubelet):
#    --authentication-token-webhook=false -> true; without a config file, add
#    --authentication-token-webhook=true next to --authorization-mode=Webhook; drop --cadvisor-port.
# 3. systemctl daemon-reload && systemctl restart kubelet, only if something changed.
# Idempotent: a second run changes nothing and restarts nothing. Each changed file is saved
# once as FILE.promfix.bak first.
@KUBEADM@
set -eu

CONFIG="${KUBELET_CONFIG:-/var/lib/kubelet/config.yaml}"
DROPIN="${KUBELET_DROPIN:-/etc/systemd/system/kubelet.service.d/10-kubeadm.conf}"
FLAGS_ENV="${KUBELET_FLAGS_ENV:-/var/lib/kubelet/kubeadm-flags.env}"
DEFAULTS="${KUBELET_DEFAULTS:-/etc/default/kubelet}"
changed=0

# replace FILE NEWFILE: install NEWFILE's content into FILE when they differ (keeps FILE's mode)
replace() {
  if cmp -s "$1" "$2"; then
    rm -f "$2"
  else
    [ -e "$1.promfix.bak" ] || cp -p "$1" "$1.promfix.bak"
    cat "$2" > "$1"
    rm -f "$2"
    echo "changed $1"
    changed=1
  fi
}

if [ -f "$CONFIG" ]; then
  if grep -q '^authentication:[[:space:]]*[{]' "$CONFIG"; then
    echo "error: $CONFIG has authentication in flow style; set authentication.webhook.enabled: true by hand" >&2
    exit 1
  fi
  awk '
    function spaces(n,   s) { s = ""; while (n-- > 0) s = s " "; return s }
    function close_webhook() {
      if (in_wh && !wh_done) { if (wh_ind < 0) wh_ind = auth_ind + 2; print spaces(wh_ind) "enabled: true" }
      in_wh = 0
    }
    function close_auth() {
      close_webhook()
      if (in_auth && !wh_seen) {
        if (auth_ind < 0) auth_ind = 2
        print spaces(auth_ind) "webhook:"; print spaces(auth_ind + 2) "enabled: true"
      }
      in_auth = 0
    }
    {
      line = $0
      if (line ~ /^[ \t]*(#.*)?\r?$/) { print line; next }
      ind = match(line, /[^ ]/) - 1
      if (in_wh && ind <= auth_ind) close_webhook()
      if (in_auth && ind == 0) close_auth()
      if (ind == 0 && line ~ /^authentication:[ \t]*\r?$/) {
        in_auth = 1; auth_seen = 1; auth_ind = -1; print line; next
      }
      if (in_auth) {
        if (auth_ind < 0) auth_ind = ind
        if (ind == auth_ind && line ~ /^ *webhook:[ \t]*\r?$/) {
          in_wh = 1; wh_seen = 1; wh_ind = -1; wh_done = 0; print line; next
        }
        if (ind == auth_ind && line ~ /^ *webhook:[ \t]*[{]/) {
          wh_seen = 1
          if (line ~ /enabled:/) gsub(/enabled:[ \t]*[A-Za-z]+/, "enabled: true", line)
          else sub(/[{]/, "{enabled: true, ", line)
          print line; next
        }
        if (in_wh) {
          if (wh_ind < 0) wh_ind = ind
          if (ind == wh_ind && line ~ /^ *enabled:/) { print spaces(ind) "enabled: true"; wh_done = 1; next }
        }
      }
      print line
    }
    END {
      close_auth()
      if (!auth_seen) { print "authentication:"; print "  webhook:"; print "    enabled: true" }
    }
  ' "$CONFIG" > "$CONFIG.promfix.tmp"
  replace "$CONFIG" "$CONFIG.promfix.tmp"
fi

for f in "$DROPIN" "$FLAGS_ENV" "$DEFAULTS"; do
  [ -f "$f" ] || continue
  sed -e 's/--authentication-token-webhook=false/--authentication-token-webhook=true/g' \
      -e 's/[[:space:]]*--cadvisor-port=[0-9]*//g' \
      "$f" > "$f.promfix.tmp"
  replace "$f" "$f.promfix.tmp"
done

# A kubelet without a config file: the flag next to --authorization-mode=Webhook (the seed's fix).
if [ ! -f "$CONFIG" ] && [ -f "$DROPIN" ] && ! grep -q -- '--authentication-token-webhook' "$DROPIN"; then
  if grep -q -- '--authorization-mode=Webhook' "$DROPIN"; then
    sed -e 's/--authorization-mode=Webhook/--authentication-token-webhook=true --authorization-mode=Webhook/' \
      "$DROPIN" > "$DROPIN.promfix.tmp"
    replace "$DROPIN" "$DROPIN.promfix.tmp"
  else
    echo "warning: no $CONFIG and no --authorization-mode=Webhook in $DROPIN: add --authentication-token-webhook=true to the kubelet's flags by hand" >&2
  fi
fi

if [ "$changed" = 1 ]; then
  systemctl daemon-reload
  systemctl restart kubelet
  echo "kubelet restarted"
else
  echo "nothing to change"
fi
"#;

#[cfg(test)]
mod tests {

    #[test]
    fn with_no_node_to_fix_the_script_is_an_explicit_no_op() {
        let s = script(&[], false);
        assert!(s.starts_with("#!/bin/sh\n"), "{s}");
        assert!(s.contains("no kubelet needs the fix"), "{s}");
        assert!(!s.contains("For the nodes:"), "{s}");
        assert!(s.trim_end().ends_with("exit 0"), "{s}");
        assert!(script(&["node2"], false).contains("# For the nodes: node2"));
    }

    #[test]
    fn on_kubeadm_the_script_and_the_text_name_the_kubelet_config_map() {
        let plain = script(&["node2"], false);
        assert!(
            !plain.contains("kubelet-config") && !plain.contains("@KUBEADM@"),
            "{plain}"
        );
        let k = script(&["node2"], true);
        assert!(
            k.contains("# Not done here (cluster-side, once): kubeadm keeps")
                && k.contains("kubectl -n kube-system edit configmap kubelet-config"),
            "{k}"
        );
        assert!(k.contains("\nset -eu\n"), "{k}");
        let bad = serde_json::json!({"kubeletconfig": {"authentication": {"webhook": {"enabled": false}, "anonymous": {"enabled": true}}, "authorization": {"mode": "Webhook"}}});
        let text = render(&[assess("node2", &bad)], None, true);
        assert!(
            text.contains("4. Once, for the cluster: kubeadm keeps"),
            "{text}"
        );
        assert!(!render(&[assess("node2", &bad)], None, false).contains("kubelet-config"));
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn assess_webhook_and_modes() {
        let ok = json!({"kubeletconfig": {"authentication": {"webhook": {"enabled": true}, "anonymous": {"enabled": false}}, "authorization": {"mode": "Webhook"}}});
        assert!(!assess("n", &ok).affected);
        let bad = json!({"kubeletconfig": {"authentication": {"webhook": {"enabled": false}, "anonymous": {"enabled": true}}, "authorization": {"mode": "Webhook"}}});
        let f = assess("n", &bad);
        assert!(f.affected);
        assert!(f.reason.contains("403"));
        let open = json!({"kubeletconfig": {"authentication": {"webhook": {"enabled": false}}, "authorization": {"mode": "AlwaysAllow"}}});
        assert!(!assess("n", &open).affected);
        let r = render(
            &[assess("node2", &bad), unknown("node3", "403".into())],
            None,
            false,
        );
        assert!(r.contains("AFFECTED"), "{r}");
        assert!(r.contains("unknown: 403"), "{r}");
        assert!(r.contains("--script FILE"), "{r}");
    }

    #[test]
    fn script_names_the_nodes() {
        let s = script(&["node2", "node3"], false);
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("# For the nodes: node2 node3\n"));
    }
}
