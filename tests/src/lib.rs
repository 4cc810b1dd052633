//! Shared harness for the test binaries.
