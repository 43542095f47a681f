//! Tar writer and reader (PAX, hard links, devices, xattrs), deterministic for a given tree and epoch.
