//! `cargo xtask boot`: builds the fixtures and boots the example system under QEMU.

/// Runs the task.
pub fn main(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("boot: not implemented yet")
}
