//! Registry client: resolving and pulling images and blobs from OCI registries, digest-verified while streaming.
