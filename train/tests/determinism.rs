//! libtorch's deterministic mode. The flag is process-wide, so this file has
//! its own test process.

#[test]
fn enable_sets_libtorch_flag() {
    assert!(
        !train::determinism::is_enabled(),
        "libtorch starts without deterministic algorithms"
    );
    train::determinism::enable().unwrap();
    assert!(train::determinism::is_enabled());
}
