//! OCI image types and local sources: image layouts, OCI and docker-save tarballs, digests, platform choice.
