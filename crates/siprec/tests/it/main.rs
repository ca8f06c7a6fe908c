//! The SIPREC corpus of real SBC messages (`../shared/siprec/corpus`, read from there, never
//! copied here) and SIP torture messages in the spirit of RFC 4475.

mod corpus;
mod torture;
