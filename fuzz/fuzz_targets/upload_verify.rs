#![no_main]

// The verdict matters to the replay test only; the fuzzer looks for panics.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = orgbackup_fuzz::upload_verify(data);
});
