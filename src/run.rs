//! `kit run`: boots what kit built under QEMU and watches the serial console.
