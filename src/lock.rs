//! The lockfile: every image the configuration names, pinned to digests, and what verified it.
