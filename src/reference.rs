//! Image references as Docker and LinuxKit spell them, parsed and normalized.
