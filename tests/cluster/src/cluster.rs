//! One running test cluster: the store, the API server, the controllers, the kubelet and the
//! peers it started. `harness::TestCluster` owns one and stops everything when dropped.

use crate::auth::Auth;
use crate::faults::Faults;
use crate::kubelet::Kubelet;
use crate::store::Store;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

/// The state every part of one test cluster shares (`Arc<Cluster>`).
pub struct Cluster {
    pub store: Arc<Store>,
    /// This cluster's temporary root: everything it writes on the host lives below it.
    pub dir: PathBuf,
    /// The second octet of every loopback address this cluster uses (127.NET.x.y), so clusters
    /// of parallel tests never share an address.
    pub net: u8,
    /// `gitVersion` reported by `/version`, e.g. `v1.33.1`.
    pub version: String,
    pub auth: Auth,
    pub faults: Faults,
    pub kubelet: Kubelet,
}

impl Cluster {
    /// The address of this cluster's API server: 127.NET.0.1.
    pub fn api_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 0, 1)
    }
}
