#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| orgbackup_fuzz::archive_reader(data));
