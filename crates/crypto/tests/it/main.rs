//! Integration tests of callvault-crypto: Tink interoperability, the `KeyProvider`
//! conformance suite (key files and PKCS#11), and what is particular to each backend.

mod conformance;
mod keyfiles;
mod pkcs11;
mod tink;
mod token;
