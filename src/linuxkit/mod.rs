//! LinuxKit assembly: the root layout, bundles, config.json and runtime.json generation, the files section.
