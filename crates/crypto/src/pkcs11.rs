//! PKCS#11 key backend: every key of a care provider is a non-extractable token object.
//!
//! [`Pkcs11Provider`] keeps no key material in process memory. Per care provider the token
//! holds, as private, sensitive, non-extractable secret-key objects:
//!
//! * `<prefix>/<HSA-ID>/kek/v<NNNNNN>` — AES-256 key-encryption keys, one per version;
//!   data keys are wrapped with `CKM_AES_GCM` encrypt (and unwrapped with decrypt), 96-bit
//!   IV, 128-bit tag, and the same associated data as the key-file backend (domain label,
//!   care provider, KEK version, recording id, DEK id), so a wrapped key has the same
//!   layout (`0x01 ‖ IV ‖ ciphertext ‖ tag`) whichever backend made it;
//! * `<prefix>/<HSA-ID>/field` — AES-256, seals catalog fields with `CKM_AES_GCM`;
//! * `<prefix>/<HSA-ID>/index` — a 256-bit generic secret, blind indexes with
//!   `CKM_SHA256_HMAC`.
//!
//! A care provider is created field key, index key, then KEK v1 — each `C_GenerateKey` is
//! one atomic token operation — and exists once its KEK v1 exists: field and index keys
//! without a KEK are left-overs of an interrupted creation (never used) and are replaced.
//! A rotation generates the next KEK version under its final label in one call.
//!
//! Sessions are not shareable across threads (`cryptoki::session::Session` is `Send`, not
//! `Sync`), so the provider keeps a pool: an operation takes an idle session or opens a new
//! one (at most `max_sessions` at a time, others wait), and hands it back. One session is
//! held for the provider's lifetime, so the token's login (which PKCS#11 keeps per
//! application while any session is open) never lapses. The PKCS#11 library is loaded and
//! `C_Initialize`d once per process and module path.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock, RwLock};

use callvault_types::CareProvider;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::DataKey;
use crate::keys::{
    BlindIndex, FieldKind, KekInfo, KekRing, KekVersion, KeyError, KeyProvider, SEALED_FIELD_V1,
    WRAPPED_DEK_V1, WrapBinding, WrappedDek, bidx_input, field_aad, list_rings, wrap_aad,
};

/// GCM IV length (bytes), as in the key-file backend's layout. Do not change.
const IV_LEN: usize = 12;
/// GCM tag length (bytes). Do not change.
const TAG_LEN: usize = 16;

/// Where the provider finds its token and how it logs in.
#[derive(Clone)]
pub struct Pkcs11Settings {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// Label of the token that holds the keys.
    pub token_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
    /// Label prefix of callvault's objects (lets several vaults share a token).
    pub label_prefix: String,
    /// Most sessions open at once.
    pub max_sessions: usize,
}

impl fmt::Debug for Pkcs11Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Settings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .field("label_prefix", &self.label_prefix)
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

/// Handles of one care provider's keys in the token.
#[derive(Debug, Default, Clone)]
struct TokenKeys {
    keks: KekRing<ObjectHandle>,
    field: Option<ObjectHandle>,
    index: Option<ObjectHandle>,
}

impl TokenKeys {
    fn complete(&self) -> bool {
        !self.keks.0.is_empty() && self.field.is_some() && self.index.is_some()
    }
}

/// The session pool.
struct Pool {
    idle: Vec<Session>,
    open: usize,
}

/// Key backend in a PKCS#11 token (an HSM; SoftHSM2 in tests).
pub struct Pkcs11Provider {
    ctx: Pkcs11,
    slot: Slot,
    settings: Pkcs11Settings,
    pool: Mutex<Pool>,
    returned: Condvar,
    keys: RwLock<HashMap<CareProvider, TokenKeys>>,
    /// Keeps the application's login alive (never used for operations).
    _login: Mutex<Session>,
}

impl fmt::Debug for Pkcs11Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Provider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn hsm(op: &'static str) -> impl FnOnce(CkError) -> KeyError {
    move |source| KeyError::Hsm {
        op,
        detail: describe(&source),
    }
}

/// A PKCS#11 error in one line (cryptoki's `Display` of an `RvError` is a paragraph).
fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?} returned {rv:?}"),
        CkError::LibraryLoading(e) => format!("cannot load the PKCS#11 module: {e}"),
        other => other.to_string(),
    }
}

/// The process-wide context of a module: loaded and initialised once, never finalised
/// (other providers in the process may still use it).
pub fn module_context(module: &Path) -> Result<Pkcs11, KeyError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| KeyError::Primitive)?;
    if let Some(ctx) = modules.get(module) {
        return Ok(ctx.clone());
    }
    if !module.is_file() {
        return Err(KeyError::Hsm {
            op: "load module",
            detail: format!("{} does not exist", module.display()),
        });
    }
    let ctx = Pkcs11::new(module).map_err(hsm("load module"))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(hsm("C_Initialize")(e)),
    }
    modules.insert(module.to_owned(), ctx.clone());
    Ok(ctx)
}

/// The slot whose initialised token has this label.
pub fn find_token(ctx: &Pkcs11, label: &str) -> Result<Slot, KeyError> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(hsm("C_GetSlotList"))?;
    let mut found = None;
    for slot in slots {
        let info = ctx.get_token_info(slot).map_err(hsm("C_GetTokenInfo"))?;
        if info.label().trim_end() == label {
            if found.is_some() {
                return Err(KeyError::Hsm {
                    op: "find token",
                    detail: format!("more than one token is labelled {label:?}"),
                });
            }
            found = Some(slot);
        }
    }
    found.ok_or_else(|| KeyError::Hsm {
        op: "find token",
        detail: format!("no initialised token is labelled {label:?}"),
    })
}

fn kek_label(prefix: &str, cp: &CareProvider, version: u32) -> String {
    format!("{prefix}/{}/kek/v{version:06}", cp.as_str())
}

fn secret_template(label: String, kind: KeyKind) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::ValueLen(32.into()),
        Attribute::Id(label.as_bytes().to_vec()),
        Attribute::Label(label.into_bytes()),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ];
    match kind {
        KeyKind::Aes => t.extend([
            Attribute::KeyType(KeyType::AES),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Sign(false),
            Attribute::Verify(false),
        ]),
        KeyKind::Hmac => t.extend([
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Sign(true),
            Attribute::Verify(true),
        ]),
    }
    t
}

#[derive(Clone, Copy)]
enum KeyKind {
    Aes,
    Hmac,
}

impl Pkcs11Provider {
    /// Opens the token, logs in, and loads the handles of every callvault key in it.
    pub fn open(settings: Pkcs11Settings) -> Result<Self, KeyError> {
        if settings.max_sessions == 0 {
            return Err(KeyError::Hsm {
                op: "open",
                detail: "max_sessions must be at least 1".into(),
            });
        }
        if settings.label_prefix.is_empty() || settings.label_prefix.contains('/') {
            return Err(KeyError::Hsm {
                op: "open",
                detail: "label_prefix must be non-empty and contain no '/'".into(),
            });
        }
        let ctx = module_context(&settings.module)?;
        let slot = find_token(&ctx, &settings.token_label)?;
        let login = ctx.open_rw_session(slot).map_err(hsm("C_OpenSession"))?;
        let pin = AuthPin::from(settings.pin.as_str());
        match login.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(hsm("C_Login")(e)),
        }
        let provider = Self {
            ctx,
            slot,
            settings,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            keys: RwLock::new(HashMap::new()),
            _login: Mutex::new(login),
        };
        let loaded = provider.load()?;
        *provider.keys.write().map_err(|_| KeyError::Primitive)? = loaded;
        Ok(provider)
    }

    /// Reads every callvault key object's label from the token.
    fn load(&self) -> Result<HashMap<CareProvider, TokenKeys>, KeyError> {
        let prefix = format!("{}/", self.settings.label_prefix);
        self.with_session(|s| {
            let handles = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::Token(true),
                ])
                .map_err(hsm("C_FindObjects"))?;
            let mut out: HashMap<CareProvider, TokenKeys> = HashMap::new();
            for h in handles {
                let attrs = s
                    .get_attributes(h, &[AttributeType::Label])
                    .map_err(hsm("C_GetAttributeValue"))?;
                let Some(Attribute::Label(label)) = attrs.into_iter().next() else {
                    continue;
                };
                let Ok(label) = String::from_utf8(label) else {
                    continue;
                };
                let Some(rest) = label.strip_prefix(&prefix) else {
                    continue;
                };
                let mut parts = rest.split('/');
                let (Some(cp), Some(kind)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let Ok(cp) = CareProvider::parse(cp) else {
                    continue;
                };
                let entry = out.entry(cp).or_default();
                let malformed = || KeyError::Hsm {
                    op: "load keys",
                    detail: format!("token object {label:?} is not a callvault key label"),
                };
                let duplicate = || KeyError::Hsm {
                    op: "load keys",
                    detail: format!("the token holds two objects labelled {label:?}"),
                };
                match (kind, parts.next(), parts.next()) {
                    ("field", None, _) => {
                        if entry.field.replace(h).is_some() {
                            return Err(duplicate());
                        }
                    }
                    ("index", None, _) => {
                        if entry.index.replace(h).is_some() {
                            return Err(duplicate());
                        }
                    }
                    ("kek", Some(v), None) => {
                        let version: u32 = v
                            .strip_prefix('v')
                            .and_then(|n| n.parse().ok())
                            .ok_or_else(malformed)?;
                        if entry.keks.0.insert(version, h).is_some() {
                            return Err(duplicate());
                        }
                    }
                    _ => return Err(malformed()),
                }
            }
            for (cp, keys) in &out {
                if !keys.keks.0.is_empty() && !keys.complete() {
                    return Err(KeyError::Hsm {
                        op: "load keys",
                        detail: format!(
                            "the token holds key-encryption keys of care provider {cp} but not its field or index key; restore the token from its backup"
                        ),
                    });
                }
            }
            Ok(out)
        })
    }

    /// Runs `f` on a pooled session (opening one if none is idle and the pool has room,
    /// otherwise waiting for one). A session that fails with a session-level error is
    /// closed rather than handed back.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let session = {
            let mut pool = self.pool.lock().map_err(|_| KeyError::Primitive)?;
            loop {
                if let Some(s) = pool.idle.pop() {
                    break s;
                }
                if pool.open < self.settings.max_sessions {
                    pool.open += 1;
                    drop(pool);
                    match self.ctx.open_rw_session(self.slot) {
                        Ok(s) => break s,
                        Err(e) => {
                            if let Ok(mut pool) = self.pool.lock() {
                                pool.open -= 1;
                            }
                            self.returned.notify_one();
                            return Err(hsm("C_OpenSession")(e));
                        }
                    }
                }
                pool = self.returned.wait(pool).map_err(|_| KeyError::Primitive)?;
            }
        };
        let result = f(&session);
        let broken = matches!(
            &result,
            Err(KeyError::Hsm { detail, .. })
                if detail.contains("SessionHandleInvalid")
                    || detail.contains("SessionClosed")
                    || detail.contains("DeviceRemoved")
                    || detail.contains("TokenNotPresent")
        );
        if let Ok(mut pool) = self.pool.lock() {
            if broken {
                pool.open -= 1;
                drop(session);
            } else {
                pool.idle.push(session);
            }
        }
        self.returned.notify_one();
        result
    }

    fn handles(&self, cp: &CareProvider) -> Result<TokenKeys, KeyError> {
        let guard = self.keys.read().map_err(|_| KeyError::Primitive)?;
        guard
            .get(cp)
            .filter(|k| k.complete())
            .cloned()
            .ok_or_else(|| KeyError::UnknownCareProvider(cp.to_string()))
    }

    fn generate(
        &self,
        s: &Session,
        label: String,
        kind: KeyKind,
    ) -> Result<ObjectHandle, KeyError> {
        let mechanism = match kind {
            KeyKind::Aes => Mechanism::AesKeyGen,
            KeyKind::Hmac => Mechanism::GenericSecretKeyGen,
        };
        s.generate_key(&mechanism, &secret_template(label, kind))
            .map_err(hsm("C_GenerateKey"))
    }

    fn gcm_seal(
        &self,
        key: ObjectHandle,
        version: u8,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let mut iv = [0u8; IV_LEN];
        crate::random_bytes(&mut iv).map_err(|_| KeyError::Primitive)?;
        let body = self.with_session(|s| {
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, aad, (TAG_LEN as u64 * 8).into())
                .map_err(hsm("GCM parameters"))?;
            s.encrypt(&Mechanism::AesGcm(params), key, plaintext)
                .map_err(hsm("C_Encrypt"))
        })?;
        if body.len() != plaintext.len() + TAG_LEN {
            return Err(KeyError::Hsm {
                op: "C_Encrypt",
                detail: format!(
                    "AES-GCM returned {} bytes for {} bytes of plaintext",
                    body.len(),
                    plaintext.len()
                ),
            });
        }
        let mut out = Vec::with_capacity(1 + IV_LEN + body.len());
        out.push(version);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn gcm_open(
        &self,
        key: ObjectHandle,
        version: u8,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.len() < 1 + IV_LEN + TAG_LEN || sealed[0] != version {
            return Err(KeyError::Unwrap);
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&sealed[1..1 + IV_LEN]);
        self.with_session(|s| {
            let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())
                .map_err(hsm("GCM parameters"))?;
            match s.decrypt(&Mechanism::AesGcm(params), key, &sealed[1 + IV_LEN..]) {
                Ok(plain) => Ok(Zeroizing::new(plain)),
                // A wrong tag, or a ciphertext the token refuses outright. The standard
                // answer is CKR_ENCRYPTED_DATA_INVALID; SoftHSM2 answers a GCM tag mismatch
                // with CKR_GENERAL_ERROR, so that counts as a failed authentication too.
                // (Nothing destructive follows from one: `verify` reports a data key it
                // cannot unwrap but never marks the recording for it.)
                Err(CkError::Pkcs11(
                    RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::GeneralError,
                    _,
                )) => Err(KeyError::Unwrap),
                Err(e) => Err(hsm("C_Decrypt")(e)),
            }
        })
    }
}

impl KeyProvider for Pkcs11Provider {
    fn backend(&self) -> &'static str {
        "pkcs11"
    }

    fn ensure_care_provider(&self, cp: &CareProvider) -> Result<(), KeyError> {
        let mut guard = self.keys.write().map_err(|_| KeyError::Primitive)?;
        if guard.get(cp).is_some_and(TokenKeys::complete) {
            return Ok(());
        }
        let prefix = &self.settings.label_prefix;
        let leftover = guard.remove(cp).unwrap_or_default();
        let created = self.with_session(|s| {
            // Field and index keys without a KEK were never used: an interrupted creation.
            for h in leftover.field.into_iter().chain(leftover.index) {
                s.destroy_object(h).map_err(hsm("C_DestroyObject"))?;
            }
            let field =
                self.generate(s, format!("{prefix}/{}/field", cp.as_str()), KeyKind::Aes)?;
            let index =
                self.generate(s, format!("{prefix}/{}/index", cp.as_str()), KeyKind::Hmac)?;
            // Last: the care provider exists from this call on.
            let kek = self.generate(s, kek_label(prefix, cp, 1), KeyKind::Aes)?;
            Ok(TokenKeys {
                keks: KekRing(BTreeMap::from([(1, kek)])),
                field: Some(field),
                index: Some(index),
            })
        })?;
        guard.insert(cp.clone(), created);
        Ok(())
    }

    fn current_kek(&self, cp: &CareProvider) -> Result<KekVersion, KeyError> {
        Ok(self.handles(cp)?.keks.current(cp)?.0)
    }

    fn wrap_dek(
        &self,
        cp: &CareProvider,
        dek: &DataKey,
        binding: &WrapBinding,
    ) -> Result<WrappedDek, KeyError> {
        let keys = self.handles(cp)?;
        let (version, kek) = keys.keks.current(cp)?;
        let aad = wrap_aad(cp, version, binding);
        Ok(WrappedDek {
            kek_version: version,
            bytes: self.gcm_seal(*kek, WRAPPED_DEK_V1, &aad, dek.expose_bytes())?,
        })
    }

    fn unwrap_dek(
        &self,
        cp: &CareProvider,
        wrapped: &WrappedDek,
        binding: &WrapBinding,
    ) -> Result<DataKey, KeyError> {
        let keys = self.handles(cp)?;
        let kek = keys.keks.get(cp, wrapped.kek_version)?;
        let aad = wrap_aad(cp, wrapped.kek_version, binding);
        let raw = self.gcm_open(*kek, WRAPPED_DEK_V1, &aad, &wrapped.bytes)?;
        let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| KeyError::Unwrap)?;
        Ok(DataKey::from_bytes(bytes))
    }

    fn rotate_kek(&self, cp: &CareProvider) -> Result<KekVersion, KeyError> {
        let mut guard = self.keys.write().map_err(|_| KeyError::Primitive)?;
        let keys = guard
            .get_mut(cp)
            .filter(|k| k.complete())
            .ok_or_else(|| KeyError::UnknownCareProvider(cp.to_string()))?;
        let next = keys.keks.next();
        let label = kek_label(&self.settings.label_prefix, cp, next);
        let handle = self.with_session(|s| self.generate(s, label, KeyKind::Aes))?;
        keys.keks.0.insert(next, handle);
        Ok(KekVersion(next))
    }

    fn list_keks(&self) -> Result<Vec<KekInfo>, KeyError> {
        let guard = self.keys.read().map_err(|_| KeyError::Primitive)?;
        Ok(list_rings(
            guard
                .iter()
                .filter(|(_, k)| k.complete())
                .map(|(cp, k)| (cp, &k.keks)),
        ))
    }

    fn destroy_kek(&self, cp: &CareProvider, version: KekVersion) -> Result<(), KeyError> {
        let mut guard = self.keys.write().map_err(|_| KeyError::Primitive)?;
        let keys = guard
            .get_mut(cp)
            .filter(|k| k.complete())
            .ok_or_else(|| KeyError::UnknownCareProvider(cp.to_string()))?;
        keys.keks.check_retired(cp, version)?;
        if let Some(handle) = keys.keks.0.get(&version.0).copied() {
            self.with_session(|s| s.destroy_object(handle).map_err(hsm("C_DestroyObject")))?;
            keys.keks.0.remove(&version.0);
        }
        Ok(())
    }

    fn seal_field(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        context: &[u8],
        value: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let field = self.handles(cp)?.field.ok_or(KeyError::Primitive)?;
        self.gcm_seal(field, SEALED_FIELD_V1, &field_aad(kind, context), value)
    }

    fn open_field(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let field = self.handles(cp)?.field.ok_or(KeyError::Primitive)?;
        self.gcm_open(field, SEALED_FIELD_V1, &field_aad(kind, context), sealed)
    }

    fn blind_index(
        &self,
        cp: &CareProvider,
        kind: FieldKind,
        value: &[u8],
    ) -> Result<BlindIndex, KeyError> {
        let index = self.handles(cp)?.index.ok_or(KeyError::Primitive)?;
        let input = Zeroizing::new(bidx_input(kind, value));
        let mac = self.with_session(|s| {
            s.sign(&Mechanism::Sha256Hmac, index, &input)
                .map_err(hsm("C_Sign"))
        })?;
        let out: [u8; 32] = mac.as_slice().try_into().map_err(|_| KeyError::Hsm {
            op: "C_Sign",
            detail: format!("HMAC-SHA-256 returned {} bytes", mac.len()),
        })?;
        Ok(BlindIndex(out))
    }
}
