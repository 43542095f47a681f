//! Signature verification of every pinned input, wired into fetching: finds the signatures of an image (registry, OCI layout, cache) and asks `signing` for a verdict under the policy.
