//! Integration tests of callvault-crypto: Tink interoperability and the key-file backend.

mod keyfiles;
mod tink;
