//! The LinuxKit configuration model: parsing with source spans, validation, multi-file merge, normalized output.
