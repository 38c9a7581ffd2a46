//! Pod networks, as a point-to-point CNI plugin (the reference `ptp` plugin) sets them up: each pod
//! that is not `hostNetwork` gets a network namespace of its own (`promfix-S-pX`, X the pod IP's
//! host byte), a veth pair (`eth0` in the pod, `pfpS-X` in the cluster's namespace), the pod IP as
//! a /32 on `eth0`, a default route through the cluster namespace's end of the host veth (an
//! address local there, so the cluster namespace answers ARP for it), and a /32 route to the pod in
//! the cluster's namespace. Removed (namespace and veth) when the pod goes, on drop.

use crate::real::netns::{NetNs, POD_IPS, enter_on_exec, ip_quiet};
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

/// The pod IPs of one cluster (all its nodes share the slot's range).
#[derive(Default)]
pub struct IpPool {
    used: Mutex<BTreeSet<u8>>,
}

impl IpPool {
    /// The lowest free pod IP's host byte.
    pub fn take(&self) -> Option<u8> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let x = POD_IPS.clone().find(|x| !used.contains(x))?;
        used.insert(x);
        Some(x)
    }

    pub fn give_back(&self, x: u8) {
        self.used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&x);
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running `ip {}` (iproute2)", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The name of the network namespace of the pod with IP host byte `x` in slot `slot`.
pub fn pod_ns_name(slot: u8, x: u8) -> String {
    format!("promfix-{slot}-p{x}")
}

/// Remove pod namespaces a killed test left in `slot`.
pub fn remove_leftovers(slot: u8) {
    let prefix = format!("promfix-{slot}-p");
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        for e in rd.filter_map(Result::ok) {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) {
                ip_quiet(&["netns", "del", &n]);
            }
        }
    }
}

/// One pod's network namespace and veth pair.
pub struct PodNet {
    pub ip: Ipv4Addr,
    pub name: String,
    host_byte: u8,
    cluster_ns: String,
    veth: String,
    fd: OwnedFd,
    pool: Arc<IpPool>,
}

impl PodNet {
    /// Set up the network of a pod with a fresh IP from `pool`.
    ///
    /// The `ip` commands run in a blocking task, which runs to completion even when this future
    /// is dropped (the pod's worker aborted, the runtime shutting down on Ctrl-C): the PodNet it
    /// returns is then dropped unclaimed, which removes the namespace and the veth. A future
    /// cancelled between two `ip` commands would leave them behind.
    pub async fn create(cluster: &NetNs, pool: Arc<IpPool>) -> Result<PodNet> {
        let x = pool
            .take()
            .context("no free pod IP left in 198.18.S.128-223")?;
        let spec = (
            pod_ns_name(cluster.slot, x),
            format!("pfp{}-{x}", cluster.slot),
            cluster.addr(x),
            cluster.name.clone(),
            cluster.veth_ns(),
        );
        tokio::task::spawn_blocking(move || Self::set_up(x, spec, pool))
            .await
            .context("setting up the pod's network (the task failed)")?
    }

    fn set_up(
        x: u8,
        (name, veth, ip_addr, cluster_ns, gw): (String, String, Ipv4Addr, String, Ipv4Addr),
        pool: Arc<IpPool>,
    ) -> Result<PodNet> {
        ip_quiet(&["netns", "del", &name]);
        let r = (|| {
            ip(&["netns", "add", &name])?;
            let fd: OwnedFd = std::fs::File::open(format!("/run/netns/{name}"))
                .with_context(|| format!("opening /run/netns/{name}"))?
                .into();
            let c = cluster_ns.as_str();
            ip(&[
                "-n", c, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
                &name,
            ])?;
            ip(&["-n", c, "link", "set", &veth, "up"])?;
            let gw = gw.to_string();
            let me = ip_addr.to_string();
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &name,
                "addr",
                "add",
                &format!("{me}/32"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &name, "link", "set", "eth0", "up"])?;
            ip(&[
                "-n", &name, "route", "add", &gw, "dev", "eth0", "scope", "link", "src", &me,
            ])?;
            ip(&[
                "-n", &name, "route", "add", "default", "via", &gw, "dev", "eth0", "src", &me,
            ])?;
            ip(&["-n", c, "route", "add", &format!("{me}/32"), "dev", &veth])?;
            Ok::<OwnedFd, anyhow::Error>(fd)
        })();
        match r {
            Ok(fd) => Ok(PodNet {
                ip: ip_addr,
                name,
                host_byte: x,
                cluster_ns,
                veth,
                fd,
                pool,
            }),
            Err(e) => {
                ip_quiet(&["-n", &cluster_ns, "link", "del", &veth]);
                ip_quiet(&["netns", "del", &name]);
                pool.give_back(x);
                Err(e.context("setting up the pod's network"))
            }
        }
    }

    /// Make `cmd` run in the pod's network namespace.
    pub fn enter_on_exec(&self, cmd: &mut tokio::process::Command) -> Result<()> {
        enter_on_exec(&self.fd, cmd)
    }

    /// The pod's namespace, open (for the processes of `kubectl exec`).
    pub fn fd_clone(&self) -> Result<OwnedFd> {
        self.fd
            .try_clone()
            .context("duplicating the pod's network namespace descriptor")
    }
}

impl Drop for PodNet {
    fn drop(&mut self) {
        ip_quiet(&["-n", &self.cluster_ns, "link", "del", &self.veth]);
        ip_quiet(&["netns", "del", &self.name]);
        self.pool.give_back(self.host_byte);
    }
}
