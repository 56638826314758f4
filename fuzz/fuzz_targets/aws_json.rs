#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trent_server::fuzzing::aws_json(data));
