//! The content-addressed cache: an OCI image layout, written atomically and verified on read.
