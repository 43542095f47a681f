//! Boots the example system (`examples/hello.yml`) under QEMU and waits for the marker its
//! first onboot container prints: the kernel, init, runc and busybox images come from
//! `cargo xtask fixtures`, and the init runs each onboot bundle with runc.
//!
//! Needs qemu-system-x86_64, cpio (for the interim initrd) and the fixtures: skipped locally
//! when one is missing, a failure in CI. One boot takes about 10 s of TCG on a quiet machine
//! (30 s on a loaded one), so locally it runs only with `KIT_SLOW_TESTS=1`.

mod support;

use std::time::{Duration, Instant};

use kit::run::{QemuOptions, RunOutcome, run_qemu};

const MARKER: &str = "kit: hello from onboot";

#[test]
fn example_boots_to_the_onboot_marker() {
    let Some(()) = support::require_slow_tests("a QEMU boot of about 10-30 s") else { return };
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    let Some(cpio) = support::require_tool("cpio") else { return };
    let layout = support::Layout::open(&fixtures.join("oci"));
    let out = tempfile::tempdir().unwrap();
    // The marker must not be on the command line: the kernel echoes it to the console.
    let prefix = support::interim_kernel_initrd(
        &layout,
        &cpio,
        out.path(),
        "hello",
        "console=ttyS0 panic=-1",
    );

    let mut options = QemuOptions::new(vec![prefix]);
    options.qemu = Some(qemu);
    options.memory_mib = 512;
    options.timeout = Some(Duration::from_secs(180));
    // No --expect: the run must end by itself, because the second onboot container powers the
    // machine off (-no-reboot makes QEMU exit). The marker must have been printed before.
    let started = Instant::now();
    let mut console = Vec::new();
    let outcome = run_qemu(&options, &mut |line| {
        eprintln!("console: {line}");
        console.push(line.to_owned());
    });
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}"));
    let RunOutcome::Exited { elapsed } = outcome else { panic!("unexpected {outcome:?}") };
    eprintln!(
        "powered off after {:.1} s ({:.1} s with setup)",
        elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let position = |wanted: &str| console.iter().position(|l| l == wanted);
    let welcome = position("Welcome to kit's example system").expect("the init did not run");
    let marker = position(MARKER).expect("no marker from the hello container");
    let hello_done =
        position("kit-onboot: 000-hello exited with status 0").expect("runc did not finish hello");
    assert!(welcome < marker && marker < hello_done, "out of order:\n{}", console.join("\n"));
    // The poweroff container stopped the machine: the init's own fallback never ran.
    assert_eq!(
        position("kit-init: init.d done, powering off"),
        None,
        "the poweroff onboot did not power off"
    );
}
