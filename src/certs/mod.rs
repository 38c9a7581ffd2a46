//! placeholder until the certs branch lands
#[derive(Debug, thiserror::Error)]
#[error("certificate error")]
pub struct CertError;
