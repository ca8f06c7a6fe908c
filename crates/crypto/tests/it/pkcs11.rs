//! What only the PKCS#11 backend must show: keys that never leave the token, clear errors
//! for a wrong PIN or token, and recovery from an interrupted creation.

use std::path::Path;

use callvault_crypto::pkcs11::{find_token, module_context};
use callvault_crypto::{KeyError, KeyProvider, Pkcs11Provider};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::conformance::cp;
use crate::token::{MODULE, TestToken};

fn user_session(token: &TestToken) -> Session {
    let ctx = module_context(Path::new(MODULE)).expect("module");
    let slot = find_token(&ctx, &token.label).expect("token");
    let s = ctx.open_rw_session(slot).expect("session");
    match s.login(UserType::User, Some(&AuthPin::from(token.pin.as_str()))) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => panic!("login: {e:?}"),
    }
    s
}

fn labels(s: &Session) -> Vec<String> {
    let mut out: Vec<String> = s
        .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
        .expect("find")
        .into_iter()
        .map(|h| {
            match s
                .get_attributes(h, &[AttributeType::Label])
                .expect("label")
                .pop()
            {
                Some(Attribute::Label(l)) => String::from_utf8(l).expect("utf-8"),
                other => panic!("no label: {other:?}"),
            }
        })
        .collect();
    out.sort();
    out
}

#[test]
fn keys_are_non_extractable_token_objects_that_never_leave_the_token() {
    let token = TestToken::new();
    let keys = token.provider();
    let a = cp("SE2321000016-0001");
    keys.ensure_care_provider(&a).expect("a");
    keys.rotate_kek(&a).expect("rotate");
    let s = user_session(&token);
    assert_eq!(
        labels(&s),
        [
            "callvault/SE2321000016-0001/field",
            "callvault/SE2321000016-0001/index",
            "callvault/SE2321000016-0001/kek/v000001",
            "callvault/SE2321000016-0001/kek/v000002",
        ]
    );
    for h in s
        .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
        .expect("find")
    {
        let attrs = s
            .get_attributes(
                h,
                &[
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::Wrap,
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                ],
            )
            .expect("attributes");
        for attr in &attrs {
            match attr {
                Attribute::Token(v) | Attribute::Private(v) | Attribute::Sensitive(v) => assert!(v),
                Attribute::NeverExtractable(v) => assert!(v),
                Attribute::Extractable(v) | Attribute::Wrap(v) => assert!(!v),
                Attribute::KeyType(t) => {
                    assert!(*t == KeyType::AES || *t == KeyType::GENERIC_SECRET)
                }
                Attribute::ValueLen(n) => assert_eq!(u64::from(*n), 32),
                other => panic!("unexpected {other:?}"),
            }
        }
        // The key's value cannot be read, and it cannot be wrapped out of the token.
        let value = s.get_attributes(h, &[AttributeType::Value]).expect("ask");
        assert!(
            !value
                .iter()
                .any(|a| matches!(a, Attribute::Value(v) if !v.is_empty())),
            "CKA_VALUE readable"
        );
    }
    let kek = s
        .find_objects(&[Attribute::Label(
            b"callvault/SE2321000016-0001/kek/v000002".to_vec(),
        )])
        .expect("find")[0];
    let wrapper = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::ValueLen(32.into()),
                Attribute::Wrap(true),
                Attribute::Token(false),
            ],
        )
        .expect("session key");
    assert!(
        s.wrap_key(&Mechanism::AesKeyWrap, wrapper, kek).is_err(),
        "a non-extractable KEK cannot be wrapped out"
    );
}

#[test]
fn a_wrong_pin_or_an_unknown_token_is_a_clear_error() {
    let token = TestToken::new();
    let mut settings = token.settings();
    settings.pin = Zeroizing::new("wrong-pin".into());
    let err = Pkcs11Provider::open(settings).expect_err("wrong PIN");
    assert!(
        err.to_string().contains("C_Login") && err.to_string().contains("PinIncorrect"),
        "{err}"
    );
    let mut settings = token.settings();
    settings.token_label = "no-such-token".into();
    let err = Pkcs11Provider::open(settings).expect_err("unknown token");
    assert!(
        err.to_string()
            .contains("no initialised token is labelled \"no-such-token\""),
        "{err}"
    );
    let mut settings = token.settings();
    settings.module = "/nonexistent/libpkcs11.so".into();
    let err = Pkcs11Provider::open(settings).expect_err("no module");
    assert!(
        err.to_string()
            .contains("/nonexistent/libpkcs11.so does not exist"),
        "{err}"
    );
}

#[test]
fn an_interrupted_creation_is_replaced_and_lost_keys_stop_the_provider() {
    let token = TestToken::new();
    let s = user_session(&token);
    // A creation cut short after the field and index keys, before KEK v1.
    let make = |label: &str, key_type: KeyType, mech: Mechanism| {
        let mut t = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        if key_type == KeyType::AES {
            t.push(Attribute::Encrypt(true));
        }
        s.generate_key(&mech, &t).expect("generate")
    };
    make(
        "callvault/SE2321000016-0001/field",
        KeyType::AES,
        Mechanism::AesKeyGen,
    );
    make(
        "callvault/SE2321000016-0001/index",
        KeyType::GENERIC_SECRET,
        Mechanism::GenericSecretKeyGen,
    );
    let keys = token.provider();
    let a = cp("SE2321000016-0001");
    assert!(matches!(
        keys.current_kek(&a),
        Err(KeyError::UnknownCareProvider(_))
    ));
    assert!(keys.list_keks().expect("list").is_empty());
    keys.ensure_care_provider(&a).expect("finish the creation");
    assert_eq!(keys.current_kek(&a).expect("current").0, 1);
    assert_eq!(
        labels(&s).len(),
        3,
        "left-overs replaced, not kept beside new keys"
    );
    drop(keys);
    // A KEK whose field key is gone (a token restored from a bad backup): refused.
    let field = s
        .find_objects(&[Attribute::Label(
            b"callvault/SE2321000016-0001/field".to_vec(),
        )])
        .expect("find")[0];
    s.destroy_object(field).expect("destroy");
    let err = Pkcs11Provider::open(token.settings()).expect_err("incomplete keys");
    assert!(
        err.to_string().contains("not its field or index key"),
        "{err}"
    );
}

#[test]
fn several_vaults_share_a_token_under_their_own_prefixes() {
    let token = TestToken::new();
    let mut other = token.settings();
    other.label_prefix = "vault-b".into();
    let a = cp("SE2321000016-0001");
    let keys_a = token.provider();
    let keys_b = Pkcs11Provider::open(other).expect("open");
    keys_a.ensure_care_provider(&a).expect("a");
    assert!(keys_b.list_keks().expect("list").is_empty());
    keys_b.ensure_care_provider(&a).expect("b");
    let bidx_a = keys_a
        .blind_index(&a, callvault_crypto::FieldKind::PatientId, b"x")
        .expect("a");
    let bidx_b = keys_b
        .blind_index(&a, callvault_crypto::FieldKind::PatientId, b"x")
        .expect("b");
    assert_ne!(bidx_a, bidx_b, "separate keys");
}
