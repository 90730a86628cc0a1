//! Sets the linker flags a Node-API addon needs (on macOS, symbols resolved by the host).
fn main() {
    napi_build::setup();
}
