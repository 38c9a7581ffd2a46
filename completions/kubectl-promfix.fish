# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kubectl_promfix_global_optspecs
    string join \n kubeconfig= context= n/namespace= v/verbose h/help V/version
end

function __fish_kubectl_promfix_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kubectl_promfix_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kubectl_promfix_using_subcommand
    set -l cmd (__fish_kubectl_promfix_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -s n -l namespace -d 'The Prometheus namespace (default: where the Prometheus resources are, else `monitoring`)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "etcd" -d 'Everything for etcd: secret, endpoints, servicemonitor, then verify'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "secret" -d 'Put the etcd client certificates into a Secret and list it in the Prometheus spec.secrets'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "endpoints" -d 'Make the etcd Service selector-free and write its Endpoints with the etcd IPs'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "servicemonitor" -d 'Set scheme https and tlsConfig on the etcd ServiceMonitor endpoint'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "verify" -d 'Prove the mount by exec in every Prometheus pod and the scrape by Prometheus\' own targets'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "doctor" -d 'Diagnose every control-plane target (read-only)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "kube-proxy" -d 'Let Prometheus scrape kube-proxy: metricsBindAddress 0.0.0.0:10249, then a rollout restart'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "control-plane" -d 'Move the scheduler and controller-manager scrapes to the secure ports (10259/10257, https)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "kubelet" -d 'The node-side fix for kubelets answering 403 (token webhook authentication, cadvisor port)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "rollback" -d 'Restore the objects saved in a backup file'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "version" -d 'Print the plugin\'s version, and the server\'s unless --client'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l ca -d 'The etcd CA certificate (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l cert -d 'The client certificate for etcd (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l key -d 'The client certificate\'s private key (PEM: PKCS#1, PKCS#8 or SEC1)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l from-dir -d 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l secret-name -d 'Name of the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l ca-secret-key -d 'Key of the CA certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l cert-secret-key -d 'Key of the client certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l key-secret-key -d 'Key of the client key in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l endpoints -d 'etcd member IPs (default: from the kube-apiserver pod\'s --etcd-servers)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l port -d 'etcd client port' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l tls-from -d 'file: mounted files; secret: the operator\'s secret references' -r -f -a "file\t'caFile/certFile/keyFile under /etc/prometheus/secrets/<secret>/ (needs spec.secrets, rolls the pods)'
secret\t'The operator\'s Secret references (no mount, no restart; the Secret lives in the ServiceMonitor\'s namespace)'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l server-name -d 'The name to verify etcd\'s serving certificate against' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l prometheus -d 'The Prometheus resource (needed without a terminal when there are several)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l service-monitor -d 'The etcd ServiceMonitor, when several could be it' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l dry-run -d 'none: write; client: print what would be written; server: send with dryRun=All' -r -f -a "none\t'Write for real'
client\t'Print the objects that would be written; send nothing'
server\t'Send every write with dryRun=All; the server checks and stores nothing'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -s o -l output -d 'Print the planned objects as yaml or json (with --dry-run=client) or the result' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l backup-dir -d 'Where to write the backup of every object before it is changed (default: current directory)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l helm-values -d 'Write the equivalent Helm values override to FILE (for objects Helm manages)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l gitops-dir -d 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l timeout -d 'How long to wait for the rollout and the first scrape' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -s n -l namespace -d 'The Prometheus\' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l insecure-skip-verify -d 'Do not verify etcd\'s serving certificate (not recommended)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -s y -l yes -d 'Do not ask for confirmation'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l show-secrets -d 'Show Secret data in --dry-run output (it is redacted otherwise)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l no-probe -d 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l replace-working-scrape -d 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm\'s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l renew -d 'Renew the Secret of a fix in place from the current files (after `kubeadm certs renew`): only the Secret\'s data changes, no pod restarts'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -l no-verify -d 'Do not run `verify` after the change'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand etcd" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l ca -d 'The etcd CA certificate (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l cert -d 'The client certificate for etcd (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l key -d 'The client certificate\'s private key (PEM: PKCS#1, PKCS#8 or SEC1)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l from-dir -d 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l secret-name -d 'Name of the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l ca-secret-key -d 'Key of the CA certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l cert-secret-key -d 'Key of the client certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l key-secret-key -d 'Key of the client key in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l endpoints -d 'etcd member IPs (default: from the kube-apiserver pod\'s --etcd-servers)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l port -d 'etcd client port' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l tls-from -d 'file: mounted files; secret: the operator\'s secret references' -r -f -a "file\t'caFile/certFile/keyFile under /etc/prometheus/secrets/<secret>/ (needs spec.secrets, rolls the pods)'
secret\t'The operator\'s Secret references (no mount, no restart; the Secret lives in the ServiceMonitor\'s namespace)'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l server-name -d 'The name to verify etcd\'s serving certificate against' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l prometheus -d 'The Prometheus resource (needed without a terminal when there are several)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l service-monitor -d 'The etcd ServiceMonitor, when several could be it' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l dry-run -d 'none: write; client: print what would be written; server: send with dryRun=All' -r -f -a "none\t'Write for real'
client\t'Print the objects that would be written; send nothing'
server\t'Send every write with dryRun=All; the server checks and stores nothing'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -s o -l output -d 'Print the planned objects as yaml or json (with --dry-run=client) or the result' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l backup-dir -d 'Where to write the backup of every object before it is changed (default: current directory)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l helm-values -d 'Write the equivalent Helm values override to FILE (for objects Helm manages)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l gitops-dir -d 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -s n -l namespace -d 'The Prometheus\' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l insecure-skip-verify -d 'Do not verify etcd\'s serving certificate (not recommended)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -s y -l yes -d 'Do not ask for confirmation'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l show-secrets -d 'Show Secret data in --dry-run output (it is redacted otherwise)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l no-probe -d 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -l replace-working-scrape -d 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm\'s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand secret" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l ca -d 'The etcd CA certificate (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l cert -d 'The client certificate for etcd (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l key -d 'The client certificate\'s private key (PEM: PKCS#1, PKCS#8 or SEC1)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l from-dir -d 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l secret-name -d 'Name of the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l ca-secret-key -d 'Key of the CA certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l cert-secret-key -d 'Key of the client certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l key-secret-key -d 'Key of the client key in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l endpoints -d 'etcd member IPs (default: from the kube-apiserver pod\'s --etcd-servers)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l port -d 'etcd client port' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l tls-from -d 'file: mounted files; secret: the operator\'s secret references' -r -f -a "file\t'caFile/certFile/keyFile under /etc/prometheus/secrets/<secret>/ (needs spec.secrets, rolls the pods)'
secret\t'The operator\'s Secret references (no mount, no restart; the Secret lives in the ServiceMonitor\'s namespace)'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l server-name -d 'The name to verify etcd\'s serving certificate against' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l prometheus -d 'The Prometheus resource (needed without a terminal when there are several)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l service-monitor -d 'The etcd ServiceMonitor, when several could be it' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l dry-run -d 'none: write; client: print what would be written; server: send with dryRun=All' -r -f -a "none\t'Write for real'
client\t'Print the objects that would be written; send nothing'
server\t'Send every write with dryRun=All; the server checks and stores nothing'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -s o -l output -d 'Print the planned objects as yaml or json (with --dry-run=client) or the result' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l backup-dir -d 'Where to write the backup of every object before it is changed (default: current directory)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l helm-values -d 'Write the equivalent Helm values override to FILE (for objects Helm manages)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l gitops-dir -d 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -s n -l namespace -d 'The Prometheus\' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l insecure-skip-verify -d 'Do not verify etcd\'s serving certificate (not recommended)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -s y -l yes -d 'Do not ask for confirmation'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l show-secrets -d 'Show Secret data in --dry-run output (it is redacted otherwise)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l no-probe -d 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -l replace-working-scrape -d 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm\'s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand endpoints" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l ca -d 'The etcd CA certificate (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l cert -d 'The client certificate for etcd (PEM)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l key -d 'The client certificate\'s private key (PEM: PKCS#1, PKCS#8 or SEC1)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l from-dir -d 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l secret-name -d 'Name of the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l ca-secret-key -d 'Key of the CA certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l cert-secret-key -d 'Key of the client certificate in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l key-secret-key -d 'Key of the client key in the Secret' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l endpoints -d 'etcd member IPs (default: from the kube-apiserver pod\'s --etcd-servers)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l port -d 'etcd client port' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l tls-from -d 'file: mounted files; secret: the operator\'s secret references' -r -f -a "file\t'caFile/certFile/keyFile under /etc/prometheus/secrets/<secret>/ (needs spec.secrets, rolls the pods)'
secret\t'The operator\'s Secret references (no mount, no restart; the Secret lives in the ServiceMonitor\'s namespace)'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l server-name -d 'The name to verify etcd\'s serving certificate against' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l prometheus -d 'The Prometheus resource (needed without a terminal when there are several)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l service-monitor -d 'The etcd ServiceMonitor, when several could be it' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l dry-run -d 'none: write; client: print what would be written; server: send with dryRun=All' -r -f -a "none\t'Write for real'
client\t'Print the objects that would be written; send nothing'
server\t'Send every write with dryRun=All; the server checks and stores nothing'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -s o -l output -d 'Print the planned objects as yaml or json (with --dry-run=client) or the result' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l backup-dir -d 'Where to write the backup of every object before it is changed (default: current directory)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l helm-values -d 'Write the equivalent Helm values override to FILE (for objects Helm manages)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l gitops-dir -d 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -s n -l namespace -d 'The Prometheus\' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l insecure-skip-verify -d 'Do not verify etcd\'s serving certificate (not recommended)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -s y -l yes -d 'Do not ask for confirmation'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l show-secrets -d 'Show Secret data in --dry-run output (it is redacted otherwise)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l no-probe -d 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -l replace-working-scrape -d 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm\'s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand servicemonitor" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l prometheus -d 'The Prometheus resource (needed without a terminal when there are several)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l service-monitor -d 'The etcd ServiceMonitor, when several could be it' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l secret -d 'The mounted Secret to check' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l from-dir -d 'Compare the Secret\'s client certificate with the files of this directory (an etcd node\'s; default: those of this machine, if any)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l job -d 'The scrape job to check (default: the etcd ServiceMonitor\'s job)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l timeout -d 'How long to wait for rollouts and the first scrape' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -s o -l output -d 'Print the result as json' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -s n -l namespace -d 'Verify only the Prometheus resources of this namespace (default: every namespace)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -l no-wait -d 'Report stale pods instead of waiting for their rollout'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand verify" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -l from-dir -d 'Compare the Secret\'s etcd client certificate with the files of this directory (an etcd node\'s: kubeadm, kubespray, RKE2, k3s layouts; default: those of this machine, if any)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -s o -l output -d 'Print the findings as json' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -s n -l namespace -d 'Diagnose only the Prometheus resources of this namespace (default: every namespace)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -l all-contexts -d 'Every context of the kubeconfig, concurrently'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -l dry-run -d 'none: write; client: print what would be written; server: send with dryRun=All' -r -f -a "none\t'Write for real'
client\t'Print the objects that would be written; send nothing'
server\t'Send every write with dryRun=All; the server checks and stores nothing'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -s o -l output -d 'Print the planned objects as yaml or json (with --dry-run=client) or the result' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -l backup-dir -d 'Where to write the backup of every object before it is changed (default: current directory)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -l gitops-dir -d 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -l timeout -d 'How long to wait for the rollout' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -s n -l namespace -d 'Not used: kube-proxy\'s ConfigMap and DaemonSet are found in kube-system' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -s y -l yes -d 'Do not ask for confirmation'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -l show-secrets -d 'Show Secret data in --dry-run output (it is redacted otherwise)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kube-proxy" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l dry-run -d 'none: write; client: print what would be written; server: send with dryRun=All' -r -f -a "none\t'Write for real'
client\t'Print the objects that would be written; send nothing'
server\t'Send every write with dryRun=All; the server checks and stores nothing'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -s o -l output -d 'Print the planned objects as yaml or json (with --dry-run=client) or the result' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l backup-dir -d 'Where to write the backup of every object before it is changed (default: current directory)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l helm-values -d 'Write the equivalent Helm values override to FILE (for objects Helm manages)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l gitops-dir -d 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l ca-file -d 'Verify the components\' serving certificates with this CA file (a path inside the Prometheus pods, e.g. from spec.secrets) instead of insecureSkipVerify' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -s n -l namespace -d 'Not used: the ServiceMonitors are found in every namespace, their Services where they select' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -s y -l yes -d 'Do not ask for confirmation'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -l show-secrets -d 'Show Secret data in --dry-run output (it is redacted otherwise)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand control-plane" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -l script -d 'Write the fix as a shell script to run on the affected nodes' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -s o -l output -d 'Print the findings as json' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -s n -l namespace -d 'Not used: the kubelets\' configuration is read from every node' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand kubelet" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -l dry-run -d 'none: write; client: print what would be written; server: send with dryRun=All' -r -f -a "none\t'Write for real'
client\t'Print the objects that would be written; send nothing'
server\t'Send every write with dryRun=All; the server checks and stores nothing'"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -s o -l output -d 'Print the planned objects as yaml or json (with --dry-run=client) or the result' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -l backup-dir -d 'Where to write the backup of every object before it is changed (default: current directory)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -s n -l namespace -d 'Not used: the backup names each object\'s namespace' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -l force -d 'Restore the fields the backed-up run wrote even where someone changed them since (their change is lost); without it the rollback lists them and stops'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -s y -l yes -d 'Do not ask for confirmation'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -l show-secrets -d 'Show Secret data in --dry-run output (it is redacted otherwise)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand rollback" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand completion" -s n -l namespace -d '' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand completion" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand completion" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand completion" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand completion" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand completion" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -s o -l output -d 'Print the versions as yaml or json' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -s n -l namespace -d '' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -l context -d 'The kubeconfig context to use (repeat for doctor)' -r
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -l client -d 'The plugin\'s version only; do not contact the cluster'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -s v -l verbose -d 'More detail (repeat for more); never prints key material'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand version" -s V -l version -d 'Print version'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "etcd" -d 'Everything for etcd: secret, endpoints, servicemonitor, then verify'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "secret" -d 'Put the etcd client certificates into a Secret and list it in the Prometheus spec.secrets'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "endpoints" -d 'Make the etcd Service selector-free and write its Endpoints with the etcd IPs'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "servicemonitor" -d 'Set scheme https and tlsConfig on the etcd ServiceMonitor endpoint'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "verify" -d 'Prove the mount by exec in every Prometheus pod and the scrape by Prometheus\' own targets'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "doctor" -d 'Diagnose every control-plane target (read-only)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "kube-proxy" -d 'Let Prometheus scrape kube-proxy: metricsBindAddress 0.0.0.0:10249, then a rollout restart'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "control-plane" -d 'Move the scheduler and controller-manager scrapes to the secure ports (10259/10257, https)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "kubelet" -d 'The node-side fix for kubelets answering 403 (token webhook authentication, cadvisor port)'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "rollback" -d 'Restore the objects saved in a backup file'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "version" -d 'Print the plugin\'s version, and the server\'s unless --client'
complete -c kubectl-promfix -n "__fish_kubectl_promfix_using_subcommand help; and not __fish_seen_subcommand_from etcd secret endpoints servicemonitor verify doctor kube-proxy control-plane kubelet rollback completion version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
