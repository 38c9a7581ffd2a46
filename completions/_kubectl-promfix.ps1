
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'kubectl-promfix' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'kubectl-promfix'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'kubectl-promfix' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The Prometheus namespace (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The Prometheus namespace (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('etcd', 'etcd', [CompletionResultType]::ParameterValue, 'Everything for etcd: secret, endpoints, servicemonitor, then verify')
            [CompletionResult]::new('secret', 'secret', [CompletionResultType]::ParameterValue, 'Put the etcd client certificates into a Secret and list it in the Prometheus spec.secrets')
            [CompletionResult]::new('endpoints', 'endpoints', [CompletionResultType]::ParameterValue, 'Make the etcd Service selector-free and write its Endpoints with the etcd IPs')
            [CompletionResult]::new('servicemonitor', 'servicemonitor', [CompletionResultType]::ParameterValue, 'Set scheme https and tlsConfig on the etcd ServiceMonitor endpoint')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Prove the mount by exec in every Prometheus pod and the scrape by Prometheus'' own targets')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose every control-plane target (read-only)')
            [CompletionResult]::new('kube-proxy', 'kube-proxy', [CompletionResultType]::ParameterValue, 'Let Prometheus scrape kube-proxy: metricsBindAddress 0.0.0.0:10249, then a rollout restart')
            [CompletionResult]::new('control-plane', 'control-plane', [CompletionResultType]::ParameterValue, 'Move the scheduler and controller-manager scrapes to the secure ports (10259/10257, https)')
            [CompletionResult]::new('kubelet', 'kubelet', [CompletionResultType]::ParameterValue, 'The node-side fix for kubelets answering 403 (token webhook authentication, cadvisor port)')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Restore the objects saved in a backup file')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the plugin''s version, and the server''s unless --client')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-promfix;etcd' {
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'The etcd CA certificate (PEM)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'The client certificate for etcd (PEM)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The client certificate''s private key (PEM: PKCS#1, PKCS#8 or SEC1)')
            [CompletionResult]::new('--from-dir', '--from-dir', [CompletionResultType]::ParameterName, 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)')
            [CompletionResult]::new('--secret-name', '--secret-name', [CompletionResultType]::ParameterName, 'Name of the Secret')
            [CompletionResult]::new('--ca-secret-key', '--ca-secret-key', [CompletionResultType]::ParameterName, 'Key of the CA certificate in the Secret')
            [CompletionResult]::new('--cert-secret-key', '--cert-secret-key', [CompletionResultType]::ParameterName, 'Key of the client certificate in the Secret')
            [CompletionResult]::new('--key-secret-key', '--key-secret-key', [CompletionResultType]::ParameterName, 'Key of the client key in the Secret')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'etcd member IPs (default: from the kube-apiserver pod''s --etcd-servers)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'etcd client port')
            [CompletionResult]::new('--tls-from', '--tls-from', [CompletionResultType]::ParameterName, 'file: mounted files; secret: the operator''s secret references')
            [CompletionResult]::new('--server-name', '--server-name', [CompletionResultType]::ParameterName, 'The name to verify etcd''s serving certificate against')
            [CompletionResult]::new('--prometheus', '--prometheus', [CompletionResultType]::ParameterName, 'The Prometheus resource (needed without a terminal when there are several)')
            [CompletionResult]::new('--service-monitor', '--service-monitor', [CompletionResultType]::ParameterName, 'The etcd ServiceMonitor, when several could be it')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none: write; client: print what would be written; server: send with dryRun=All')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where to write the backup of every object before it is changed (default: current directory)')
            [CompletionResult]::new('--helm-values', '--helm-values', [CompletionResultType]::ParameterName, 'Write the equivalent Helm values override to FILE (for objects Helm manages)')
            [CompletionResult]::new('--gitops-dir', '--gitops-dir', [CompletionResultType]::ParameterName, 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the rollout and the first scrape')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--insecure-skip-verify', '--insecure-skip-verify', [CompletionResultType]::ParameterName, 'Do not verify etcd''s serving certificate (not recommended)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show Secret data in --dry-run output (it is redacted otherwise)')
            [CompletionResult]::new('--no-probe', '--no-probe', [CompletionResultType]::ParameterName, 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first')
            [CompletionResult]::new('--replace-working-scrape', '--replace-working-scrape', [CompletionResultType]::ParameterName, 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm''s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)')
            [CompletionResult]::new('--renew', '--renew', [CompletionResultType]::ParameterName, 'Renew the Secret of a fix in place from the current files (after `kubeadm certs renew`): only the Secret''s data changes, no pod restarts')
            [CompletionResult]::new('--no-verify', '--no-verify', [CompletionResultType]::ParameterName, 'Do not run `verify` after the change')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;secret' {
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'The etcd CA certificate (PEM)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'The client certificate for etcd (PEM)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The client certificate''s private key (PEM: PKCS#1, PKCS#8 or SEC1)')
            [CompletionResult]::new('--from-dir', '--from-dir', [CompletionResultType]::ParameterName, 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)')
            [CompletionResult]::new('--secret-name', '--secret-name', [CompletionResultType]::ParameterName, 'Name of the Secret')
            [CompletionResult]::new('--ca-secret-key', '--ca-secret-key', [CompletionResultType]::ParameterName, 'Key of the CA certificate in the Secret')
            [CompletionResult]::new('--cert-secret-key', '--cert-secret-key', [CompletionResultType]::ParameterName, 'Key of the client certificate in the Secret')
            [CompletionResult]::new('--key-secret-key', '--key-secret-key', [CompletionResultType]::ParameterName, 'Key of the client key in the Secret')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'etcd member IPs (default: from the kube-apiserver pod''s --etcd-servers)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'etcd client port')
            [CompletionResult]::new('--tls-from', '--tls-from', [CompletionResultType]::ParameterName, 'file: mounted files; secret: the operator''s secret references')
            [CompletionResult]::new('--server-name', '--server-name', [CompletionResultType]::ParameterName, 'The name to verify etcd''s serving certificate against')
            [CompletionResult]::new('--prometheus', '--prometheus', [CompletionResultType]::ParameterName, 'The Prometheus resource (needed without a terminal when there are several)')
            [CompletionResult]::new('--service-monitor', '--service-monitor', [CompletionResultType]::ParameterName, 'The etcd ServiceMonitor, when several could be it')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none: write; client: print what would be written; server: send with dryRun=All')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where to write the backup of every object before it is changed (default: current directory)')
            [CompletionResult]::new('--helm-values', '--helm-values', [CompletionResultType]::ParameterName, 'Write the equivalent Helm values override to FILE (for objects Helm manages)')
            [CompletionResult]::new('--gitops-dir', '--gitops-dir', [CompletionResultType]::ParameterName, 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--insecure-skip-verify', '--insecure-skip-verify', [CompletionResultType]::ParameterName, 'Do not verify etcd''s serving certificate (not recommended)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show Secret data in --dry-run output (it is redacted otherwise)')
            [CompletionResult]::new('--no-probe', '--no-probe', [CompletionResultType]::ParameterName, 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first')
            [CompletionResult]::new('--replace-working-scrape', '--replace-working-scrape', [CompletionResultType]::ParameterName, 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm''s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;endpoints' {
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'The etcd CA certificate (PEM)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'The client certificate for etcd (PEM)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The client certificate''s private key (PEM: PKCS#1, PKCS#8 or SEC1)')
            [CompletionResult]::new('--from-dir', '--from-dir', [CompletionResultType]::ParameterName, 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)')
            [CompletionResult]::new('--secret-name', '--secret-name', [CompletionResultType]::ParameterName, 'Name of the Secret')
            [CompletionResult]::new('--ca-secret-key', '--ca-secret-key', [CompletionResultType]::ParameterName, 'Key of the CA certificate in the Secret')
            [CompletionResult]::new('--cert-secret-key', '--cert-secret-key', [CompletionResultType]::ParameterName, 'Key of the client certificate in the Secret')
            [CompletionResult]::new('--key-secret-key', '--key-secret-key', [CompletionResultType]::ParameterName, 'Key of the client key in the Secret')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'etcd member IPs (default: from the kube-apiserver pod''s --etcd-servers)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'etcd client port')
            [CompletionResult]::new('--tls-from', '--tls-from', [CompletionResultType]::ParameterName, 'file: mounted files; secret: the operator''s secret references')
            [CompletionResult]::new('--server-name', '--server-name', [CompletionResultType]::ParameterName, 'The name to verify etcd''s serving certificate against')
            [CompletionResult]::new('--prometheus', '--prometheus', [CompletionResultType]::ParameterName, 'The Prometheus resource (needed without a terminal when there are several)')
            [CompletionResult]::new('--service-monitor', '--service-monitor', [CompletionResultType]::ParameterName, 'The etcd ServiceMonitor, when several could be it')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none: write; client: print what would be written; server: send with dryRun=All')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where to write the backup of every object before it is changed (default: current directory)')
            [CompletionResult]::new('--helm-values', '--helm-values', [CompletionResultType]::ParameterName, 'Write the equivalent Helm values override to FILE (for objects Helm manages)')
            [CompletionResult]::new('--gitops-dir', '--gitops-dir', [CompletionResultType]::ParameterName, 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--insecure-skip-verify', '--insecure-skip-verify', [CompletionResultType]::ParameterName, 'Do not verify etcd''s serving certificate (not recommended)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show Secret data in --dry-run output (it is redacted otherwise)')
            [CompletionResult]::new('--no-probe', '--no-probe', [CompletionResultType]::ParameterName, 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first')
            [CompletionResult]::new('--replace-working-scrape', '--replace-working-scrape', [CompletionResultType]::ParameterName, 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm''s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;servicemonitor' {
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'The etcd CA certificate (PEM)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'The client certificate for etcd (PEM)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The client certificate''s private key (PEM: PKCS#1, PKCS#8 or SEC1)')
            [CompletionResult]::new('--from-dir', '--from-dir', [CompletionResultType]::ParameterName, 'A directory in a known layout (kubespray, kubeadm, RKE2, k3s)')
            [CompletionResult]::new('--secret-name', '--secret-name', [CompletionResultType]::ParameterName, 'Name of the Secret')
            [CompletionResult]::new('--ca-secret-key', '--ca-secret-key', [CompletionResultType]::ParameterName, 'Key of the CA certificate in the Secret')
            [CompletionResult]::new('--cert-secret-key', '--cert-secret-key', [CompletionResultType]::ParameterName, 'Key of the client certificate in the Secret')
            [CompletionResult]::new('--key-secret-key', '--key-secret-key', [CompletionResultType]::ParameterName, 'Key of the client key in the Secret')
            [CompletionResult]::new('--endpoints', '--endpoints', [CompletionResultType]::ParameterName, 'etcd member IPs (default: from the kube-apiserver pod''s --etcd-servers)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'etcd client port')
            [CompletionResult]::new('--tls-from', '--tls-from', [CompletionResultType]::ParameterName, 'file: mounted files; secret: the operator''s secret references')
            [CompletionResult]::new('--server-name', '--server-name', [CompletionResultType]::ParameterName, 'The name to verify etcd''s serving certificate against')
            [CompletionResult]::new('--prometheus', '--prometheus', [CompletionResultType]::ParameterName, 'The Prometheus resource (needed without a terminal when there are several)')
            [CompletionResult]::new('--service-monitor', '--service-monitor', [CompletionResultType]::ParameterName, 'The etcd ServiceMonitor, when several could be it')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none: write; client: print what would be written; server: send with dryRun=All')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where to write the backup of every object before it is changed (default: current directory)')
            [CompletionResult]::new('--helm-values', '--helm-values', [CompletionResultType]::ParameterName, 'Write the equivalent Helm values override to FILE (for objects Helm manages)')
            [CompletionResult]::new('--gitops-dir', '--gitops-dir', [CompletionResultType]::ParameterName, 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The Prometheus'' namespace: where the Prometheus resource is found and the Secret is written (default: where the Prometheus resources are, else `monitoring`)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--insecure-skip-verify', '--insecure-skip-verify', [CompletionResultType]::ParameterName, 'Do not verify etcd''s serving certificate (not recommended)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show Secret data in --dry-run output (it is redacted otherwise)')
            [CompletionResult]::new('--no-probe', '--no-probe', [CompletionResultType]::ParameterName, 'Do not try an mTLS handshake and GET /metrics against each reachable etcd endpoint first')
            [CompletionResult]::new('--replace-working-scrape', '--replace-working-scrape', [CompletionResultType]::ParameterName, 'Rewrite the etcd scrape even when Prometheus reports all its targets up (without it, a working scrape, e.g. kubeadm''s plain-HTTP metrics port 2381, is left as it is, unless --tls-from, --server-name or --insecure-skip-verify ask for a TLS setting)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;verify' {
            [CompletionResult]::new('--prometheus', '--prometheus', [CompletionResultType]::ParameterName, 'The Prometheus resource (needed without a terminal when there are several)')
            [CompletionResult]::new('--service-monitor', '--service-monitor', [CompletionResultType]::ParameterName, 'The etcd ServiceMonitor, when several could be it')
            [CompletionResult]::new('--secret', '--secret', [CompletionResultType]::ParameterName, 'The mounted Secret to check')
            [CompletionResult]::new('--from-dir', '--from-dir', [CompletionResultType]::ParameterName, 'Compare the Secret''s client certificate with the files of this directory (an etcd node''s; default: those of this machine, if any)')
            [CompletionResult]::new('--job', '--job', [CompletionResultType]::ParameterName, 'The scrape job to check (default: the etcd ServiceMonitor''s job)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for rollouts and the first scrape')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the result as json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the result as json')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Verify only the Prometheus resources of this namespace (default: every namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Verify only the Prometheus resources of this namespace (default: every namespace)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Report stale pods instead of waiting for their rollout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;doctor' {
            [CompletionResult]::new('--from-dir', '--from-dir', [CompletionResultType]::ParameterName, 'Compare the Secret''s etcd client certificate with the files of this directory (an etcd node''s: kubeadm, kubespray, RKE2, k3s layouts; default: those of this machine, if any)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the findings as json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the findings as json')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Diagnose only the Prometheus resources of this namespace (default: every namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Diagnose only the Prometheus resources of this namespace (default: every namespace)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--all-contexts', '--all-contexts', [CompletionResultType]::ParameterName, 'Every context of the kubeconfig, concurrently')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;kube-proxy' {
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none: write; client: print what would be written; server: send with dryRun=All')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where to write the backup of every object before it is changed (default: current directory)')
            [CompletionResult]::new('--gitops-dir', '--gitops-dir', [CompletionResultType]::ParameterName, 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the rollout')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Not used: kube-proxy''s ConfigMap and DaemonSet are found in kube-system')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Not used: kube-proxy''s ConfigMap and DaemonSet are found in kube-system')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show Secret data in --dry-run output (it is redacted otherwise)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;control-plane' {
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none: write; client: print what would be written; server: send with dryRun=All')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where to write the backup of every object before it is changed (default: current directory)')
            [CompletionResult]::new('--helm-values', '--helm-values', [CompletionResultType]::ParameterName, 'Write the equivalent Helm values override to FILE (for objects Helm manages)')
            [CompletionResult]::new('--gitops-dir', '--gitops-dir', [CompletionResultType]::ParameterName, 'Also write the change in the form each GitOps owner of a changed object takes (Flux HelmRelease values or post-renderer patches, Argo CD Helm values, Kustomize patches) into DIR')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Verify the components'' serving certificates with this CA file (a path inside the Prometheus pods, e.g. from spec.secrets) instead of insecureSkipVerify')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Not used: the ServiceMonitors are found in every namespace, their Services where they select')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Not used: the ServiceMonitors are found in every namespace, their Services where they select')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show Secret data in --dry-run output (it is redacted otherwise)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;kubelet' {
            [CompletionResult]::new('--script', '--script', [CompletionResultType]::ParameterName, 'Write the fix as a shell script to run on the affected nodes')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the findings as json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the findings as json')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Not used: the kubelets'' configuration is read from every node')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Not used: the kubelets'' configuration is read from every node')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;rollback' {
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none: write; client: print what would be written; server: send with dryRun=All')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the planned objects as yaml or json (with --dry-run=client) or the result')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where to write the backup of every object before it is changed (default: current directory)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Not used: the backup names each object''s namespace')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Not used: the backup names each object''s namespace')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Restore the fields the backed-up run wrote even where someone changed them since (their change is lost); without it the rollback lists them and stops')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show Secret data in --dry-run output (it is redacted otherwise)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;completion' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'n')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'namespace')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;version' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Print the versions as yaml or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Print the versions as yaml or json')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'n')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'namespace')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (repeat for doctor)')
            [CompletionResult]::new('--client', '--client', [CompletionResultType]::ParameterName, 'The plugin''s version only; do not contact the cluster')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail (repeat for more); never prints key material')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-promfix;help' {
            [CompletionResult]::new('etcd', 'etcd', [CompletionResultType]::ParameterValue, 'Everything for etcd: secret, endpoints, servicemonitor, then verify')
            [CompletionResult]::new('secret', 'secret', [CompletionResultType]::ParameterValue, 'Put the etcd client certificates into a Secret and list it in the Prometheus spec.secrets')
            [CompletionResult]::new('endpoints', 'endpoints', [CompletionResultType]::ParameterValue, 'Make the etcd Service selector-free and write its Endpoints with the etcd IPs')
            [CompletionResult]::new('servicemonitor', 'servicemonitor', [CompletionResultType]::ParameterValue, 'Set scheme https and tlsConfig on the etcd ServiceMonitor endpoint')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Prove the mount by exec in every Prometheus pod and the scrape by Prometheus'' own targets')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose every control-plane target (read-only)')
            [CompletionResult]::new('kube-proxy', 'kube-proxy', [CompletionResultType]::ParameterValue, 'Let Prometheus scrape kube-proxy: metricsBindAddress 0.0.0.0:10249, then a rollout restart')
            [CompletionResult]::new('control-plane', 'control-plane', [CompletionResultType]::ParameterValue, 'Move the scheduler and controller-manager scrapes to the secure ports (10259/10257, https)')
            [CompletionResult]::new('kubelet', 'kubelet', [CompletionResultType]::ParameterValue, 'The node-side fix for kubelets answering 403 (token webhook authentication, cadvisor port)')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Restore the objects saved in a backup file')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the plugin''s version, and the server''s unless --client')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-promfix;help;etcd' {
            break
        }
        'kubectl-promfix;help;secret' {
            break
        }
        'kubectl-promfix;help;endpoints' {
            break
        }
        'kubectl-promfix;help;servicemonitor' {
            break
        }
        'kubectl-promfix;help;verify' {
            break
        }
        'kubectl-promfix;help;doctor' {
            break
        }
        'kubectl-promfix;help;kube-proxy' {
            break
        }
        'kubectl-promfix;help;control-plane' {
            break
        }
        'kubectl-promfix;help;kubelet' {
            break
        }
        'kubectl-promfix;help;rollback' {
            break
        }
        'kubectl-promfix;help;completion' {
            break
        }
        'kubectl-promfix;help;version' {
            break
        }
        'kubectl-promfix;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
