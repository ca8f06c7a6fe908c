//! Care-provider registration, retention and site markers.

use callvault_types::CareProvider;
use callvault_vault::{Vault, VaultError};

use crate::common::*;

#[test]
fn a_registration_cut_short_is_finished_and_lost_keys_are_never_replaced() {
    let t = TestVault::new();
    let data = t.data_dir();
    let dir = t.close();
    // Keys of a third care provider exist (a crash came before its catalog row).
    let c = CareProvider::parse("SE2321000032-0001").expect("cp");
    {
        use callvault_crypto::KeyProvider;
        let keys = callvault_crypto::KeyFileProvider::open(&data.join("keys")).expect("keys");
        keys.ensure_care_provider(&c).expect("keys");
    }
    let v = Vault::open(&data).expect("open");
    assert_eq!(v.catalog().care_provider_retention(&c).expect("q"), None);
    v.ensure_care_provider(&c, &callvault_vault::vault_operator())
        .expect("finish registration");
    assert_eq!(
        v.catalog().care_provider_retention(&c).expect("q"),
        Some(10)
    );
    drop(v);

    // A registered care provider whose keys are gone: no new keys, a clear error.
    std::fs::remove_dir_all(data.join("keys").join(CP_A)).expect("rm");
    let v = Vault::open(&data).expect("open");
    let a = CareProvider::parse(CP_A).expect("cp");
    let err = v
        .ensure_care_provider(&a, &callvault_vault::vault_operator())
        .expect_err("must refuse");
    assert!(matches!(err, VaultError::KeysMissing(_)), "{err}");
    assert!(
        !data.join("keys").join(CP_A).exists(),
        "no new keys were made"
    );
    drop(v);
    drop(dir);
}

#[test]
fn retention_is_never_shortened_by_lowering_the_configuration() {
    let t = TestVault::new();
    let data = t.data_dir();
    let _dir = t.close();
    let config = data.join("callvault.toml");
    let original = std::fs::read_to_string(&config).expect("read");
    let longer =
        format!("{original}\n[[care_providers]]\nhsa_id = \"{CP_A}\"\nretention_years = 25\n");
    std::fs::write(&config, longer).expect("write");
    let v = Vault::open(&data).expect("open");
    let a = CareProvider::parse(CP_A).expect("cp");
    v.ensure_care_provider(&a, &callvault_vault::vault_operator())
        .expect("lengthen");
    assert_eq!(
        v.catalog().care_provider_retention(&a).expect("q"),
        Some(25)
    );
    drop(v);
    // Back to the default of 10 years in the file: new recordings still get 25.
    std::fs::write(&config, original).expect("write");
    let t2 = TestVault {
        vault: Vault::open(&data).expect("open"),
        dir: _dir,
    };
    let m = archive(&t2.archive(), 1, 4000);
    t2.vault
        .import_manifest(&m, &callvault_vault::vault_operator(), |_, _, _| {})
        .expect("import");
    let mut years = None;
    t2.vault
        .catalog()
        .for_each_recording(&mut |r| {
            years = Some(r.rec.retention_until.year() - r.rec.started_at.year());
            Ok(())
        })
        .expect("list");
    assert_eq!(years, Some(25));
}

#[test]
fn a_site_without_its_marker_stops_the_vault() {
    let t = TestVault::new();
    let data = t.data_dir();
    let _dir = t.close();
    std::fs::remove_file(data.join("sites/b/callvault-site")).expect("rm marker");
    let err = Vault::open(&data).expect_err("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains("not a callvault site directory") && msg.contains("mounted"),
        "{msg}"
    );
}
