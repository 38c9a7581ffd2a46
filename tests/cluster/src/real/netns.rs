//! A network namespace of the test cluster's own, with non-loopback addresses, joined to the host by
//! a veth pair so that kubectl and kubectl-promfix on the host reach the API server and the etcd
//! members.
//!
//! Cluster slot `S` (1..=63, held with a lock file while the cluster runs) owns `198.18.S.0/24`:
//! - `198.18.S.0/25` and `198.18.S.224/27` are made local inside the namespace (`ip route add local
//!   ... dev lo`), so that every address of them is bindable there, as 127.0.0.0/8 is on loopback:
//!   the API server (.1), the nodes and the etcd members (a scenario's host bytes, below 128), and
//!   the Services' ClusterIPs (.224/27: a packet to one stays in the namespace).
//! - `198.18.S.128`–`.223` are pod IPs ([`POD_IPS`]): each pod that is not `hostNetwork` gets a
//!   namespace of its own, joined to this one by a veth pair with a /32 route, as a CNI's
//!   point-to-point plugin does (the node agent's job). A local route would shadow those routes (the
//!   local table is looked up first), so the range is left out of the local ones.
//! - `198.19.255.4S/30`: the veth pair, `.4S+1` on the host (`pfS-h`), `.4S+2` in the namespace
//!   (`pfS-c`). The host routes `198.18.S.0/24` through it.
//!
//! The namespace has no default route: nothing inside it reaches beyond the namespace and the host
//! end of the veth. Dropping the `NetNs` deletes the veth (and with it the host route) and the
//! namespace; a namespace left by a killed test is removed when its slot is taken again.

use anyhow::{Context, Result, bail};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;

/// The first and last slot (198.18.S.0/24).
pub const SLOTS: std::ops::RangeInclusive<u8> = 1..=63;
/// The host bytes of pod IPs (198.18.S.128 to 198.18.S.223), routed to each pod's own namespace.
pub const POD_IPS: std::ops::RangeInclusive<u8> = 128..=223;
/// The ranges made local inside the namespace: (first host byte, prefix length).
pub const LOCAL_RANGES: [(u8, u8); 2] = [(0, 25), (224, 27)];

/// A network namespace with its addresses; removed on drop.
pub struct NetNs {
    pub slot: u8,
    pub name: String,
    host_link: String,
    /// The namespace, open, for `setns` in a child before exec.
    fd: OwnedFd,
    _lock: crate::harness::NetLock,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        anyhow::anyhow!(
            "running `ip {}`: {e}. The test clusters need iproute2 (apt-get install -y iproute2) and root (or CAP_NET_ADMIN)",
            args.join(" ")
        )
    })?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}. Creating the test cluster's network namespace needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Best-effort removal (for leftovers and on drop; the node agent's pod namespaces too).
pub(crate) fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

impl NetNs {
    /// Take a free slot and create its namespace, veth pair and routes.
    pub fn create() -> Result<NetNs> {
        let lock = crate::harness::NetLock::acquire_in("real", SLOTS)?;
        let slot = lock.net;
        let name = format!("promfix-{slot}");
        let host_link = format!("pf{slot}-h");
        let ns_link = format!("pf{slot}-c");
        // Leftovers of a test that was killed while holding this slot.
        ip_quiet(&["link", "del", &host_link]);
        ip_quiet(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let path = PathBuf::from("/run/netns").join(&name);
        let file = std::fs::File::open(&path)
            .with_context(|| format!("opening the network namespace {}", path.display()))?;
        let ns = NetNs {
            slot,
            name: name.clone(),
            host_link: host_link.clone(),
            fd: file.into(),
            _lock: lock,
        };
        let (host_ip, ns_ip) = (ns.veth_host(), ns.veth_ns());
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &ns_link,
        ])?;
        ip(&["link", "set", &ns_link, "netns", &name])?;
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link])?;
        ip(&["link", "set", &host_link, "up"])?;
        let inside = |args: &[&str]| {
            let mut v = vec!["-n", name.as_str()];
            v.extend_from_slice(args);
            ip(&v)
        };
        inside(&["link", "set", "lo", "up"])?;
        // Forwarding inside this namespace only (the host's setting is its own): packets from the
        // host to a pod IP pass through here to the pod's namespace.
        let sysctl = Command::new("ip")
            .args([
                "netns",
                "exec",
                &name,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .status()
            .context("running sysctl in the namespace")?;
        if !sysctl.success() {
            bail!("could not enable forwarding in the network namespace {name} ({sysctl})");
        }
        inside(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_link])?;
        inside(&["link", "set", &ns_link, "up"])?;
        for (first, len) in LOCAL_RANGES {
            inside(&[
                "route",
                "add",
                "local",
                &format!("{}/{len}", ns.addr(first)),
                "dev",
                "lo",
            ])?;
        }
        ip(&[
            "route",
            "add",
            &format!("{}/24", ns.addr(0)),
            "via",
            &ns_ip.to_string(),
            "dev",
            &host_link,
        ])?;
        Ok(ns)
    }

    /// `198.18.SLOT.host`
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.slot, host)
    }

    /// The host's end of the veth pair.
    pub fn veth_host(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 255, self.slot * 4 + 1)
    }

    /// The namespace's end of the veth pair.
    pub fn veth_ns(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 255, self.slot * 4 + 2)
    }

    /// A TCP listener on `addr` inside the namespace, for a server of this (host) process: bound
    /// from a thread of its own that has joined the namespace (a socket stays in the namespace it
    /// was created in, whichever thread then uses it). Non-blocking, for tokio.
    pub fn bind_tcp(&self, addr: std::net::SocketAddr) -> Result<std::net::TcpListener> {
        let fd = self
            .fd
            .try_clone()
            .context("duplicating the namespace's file descriptor")?;
        let name = self.name.clone();
        std::thread::spawn(move || -> Result<std::net::TcpListener> {
            // SAFETY: setns on a descriptor this thread owns; it changes only this thread.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!(
                    "joining the network namespace {name}: {} (needs CAP_SYS_ADMIN)",
                    std::io::Error::last_os_error()
                );
            }
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("binding {addr} in the network namespace {name}"))?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread binding {addr} panicked"))?
    }

    /// A TCP connection to `addr` made from inside the namespace (a thread of its own joins it,
    /// as in `bind_tcp`), within `timeout`: what a process on the node's host network dials,
    /// its loopback included. Non-blocking, for tokio.
    pub async fn connect_tcp(
        &self,
        addr: std::net::SocketAddr,
        timeout: std::time::Duration,
    ) -> std::io::Result<std::net::TcpStream> {
        let fd = self.fd.try_clone()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let r = (|| {
                // SAFETY: setns on a descriptor this thread owns; it changes only this thread,
                // which ends after the one connection.
                if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
                s.set_nonblocking(true)?;
                Ok(s)
            })();
            let _ = tx.send(r);
        });
        rx.await.map_err(std::io::Error::other)?
    }

    /// The namespace, open (for `setns` of a process started later).
    pub fn fd_clone(&self) -> Result<OwnedFd> {
        self.fd
            .try_clone()
            .context("duplicating the namespace's file descriptor")
    }

    /// Make `cmd` run inside the namespace (setns between fork and exec).
    pub fn enter_on_exec(&self, cmd: &mut tokio::process::Command) -> Result<()> {
        enter_on_exec(&self.fd, cmd)
    }
}

/// setns(`fd`, CLONE_NEWNET) in the child between fork and exec: for the cluster's namespace and
/// the node agent's pod namespaces alike.
pub fn enter_on_exec(fd: &OwnedFd, cmd: &mut tokio::process::Command) -> Result<()> {
    let fd = fd
        .try_clone()
        .context("duplicating the namespace's file descriptor")?;
    // SAFETY: setns is async-signal-safe; the closure only calls it on a descriptor it owns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(())
}

impl Drop for NetNs {
    fn drop(&mut self) {
        ip_quiet(&["link", "del", &self.host_link]);
        ip_quiet(&["netns", "del", &self.name]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_of_the_namespace_is_reachable_from_the_host_and_removed_after() {
        let ns = NetNs::create().expect("creating a network namespace");
        let addr = ns.addr(7);
        // A listener inside the namespace, on an address no host interface has.
        let mut cmd = tokio::process::Command::new("python3");
        cmd.args(["-c", &format!(
            "import socket,sys\ns=socket.socket()\ns.bind(('{addr}',8080))\ns.listen()\nsys.stdout.write('ready\\n');sys.stdout.flush()\nc,_=s.accept()\nc.sendall(b'hello')\nc.close()"
        )])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
        ns.enter_on_exec(&mut cmd).unwrap();
        let mut child = cmd.spawn().unwrap();
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line)
            .await
            .unwrap();
        assert_eq!(line.trim(), "ready");
        let mut s = tokio::net::TcpStream::connect((addr, 8080)).await.unwrap();
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut got)
            .await
            .unwrap();
        assert_eq!(got, b"hello");
        // The host has no such address itself: only the route through the veth reaches it.
        let host_addrs = String::from_utf8(
            Command::new("ip")
                .args(["-4", "-br", "addr"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(!host_addrs.contains(&addr.to_string()), "{host_addrs}");
        let link = ns.host_link.clone();
        let name = ns.name.clone();
        drop(child);
        drop(ns);
        let links = Command::new("ip")
            .args(["link", "show", &link])
            .output()
            .unwrap();
        assert!(!links.status.success(), "{link} is still there");
        let routes =
            String::from_utf8(Command::new("ip").args(["route"]).output().unwrap().stdout).unwrap();
        let net = format!("198.18.{}.0/24", addr.octets()[2]);
        assert!(!routes.contains(&net), "{routes}");
        let nss = String::from_utf8(
            Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(!nss.contains(&name), "{nss}");
    }
}
