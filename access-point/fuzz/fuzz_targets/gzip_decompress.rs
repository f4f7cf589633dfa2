//! Fuzz target: streaming gzip decompression with a size cap on arbitrary input. Any outcome but a panic or a hang
//! is acceptable; a success must respect the cap and report the size it wrote.
#![no_main]

use access_point::compression::{gzip_decompress, DecompressError};
use libfuzzer_sys::fuzz_target;

const CAP: u64 = 1 << 20;

fuzz_target!(|input: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut output = Vec::new();
    match runtime.block_on(gzip_decompress(input, &mut output, CAP)) {
        Ok(size) => {
            assert_eq!(size, output.len() as u64);
            assert!(size <= CAP);
        }
        Err(DecompressError::TooLarge { limit }) => assert_eq!(limit, CAP),
        Err(DecompressError::Corrupt(_)) => {}
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});
