//! cosign signatures: simple-signing payloads verified with pinned public keys.
