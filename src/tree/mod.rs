//! Layer merge: applies OCI layers in order, with whiteouts and opaque directories, into a formats::tree::Tree.
