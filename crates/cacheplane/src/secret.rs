//! Comparing secrets.

/// Whether a secret `given` is `expected`, in time that tells nothing of either, their lengths included: their
/// SHA-256 digests are compared in constant time.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    bool::from(
        Sha256::digest(given.as_bytes())
            .as_slice()
            .ct_eq(Sha256::digest(expected.as_bytes()).as_slice()),
    )
}
