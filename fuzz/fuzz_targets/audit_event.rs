//! An audit event's canonical encoding (a Merkle leaf): the allocation-free check and the
//! full decoder agree on every input, and whatever decodes encodes back to the same bytes.
#![no_main]

use callvault_audit::event::AuditEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = AuditEvent::check_encoding(data);
    match AuditEvent::decode(data) {
        Ok(e) => {
            assert_eq!(
                checked.ok(),
                Some(e.action),
                "check_encoding disagrees with decode"
            );
            assert_eq!(e.encode().expect("re-encode"), data, "not canonical");
        }
        Err(_) => assert!(
            checked.is_err(),
            "check_encoding accepts what decode refuses"
        ),
    }
});
