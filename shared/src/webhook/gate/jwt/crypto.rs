//! The signatures of user tokens, computed and checked by *ring*, which the build already has
//! for rustls: HS256, ES256 and EdDSA, nothing else. jsonwebtoken takes its cryptography from
//! one process-wide provider; this one is installed before the first key is made, so no decode
//! ever finds none (jsonwebtoken would panic).

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::hmac;
use ring::signature::{UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED, ED25519};

/// Only what user tokens use: no JWKs (their key utilities are never called).
static RING: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes *ring* jsonwebtoken's provider unless one is installed already; whether one is now.
pub(super) fn installed() -> bool {
    if CryptoProvider::try_get_default().is_none() {
        // Losing a race to another thread installing it is as good as winning it.
        let _ = RING.install_default();
    }
    CryptoProvider::try_get_default().is_some()
}

/// HMAC with SHA-256, for signing (`entitlements user-token`, tests) and checking.
struct Hs256(hmac::Key);

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
        // Constant time, as ring compares.
        hmac::verify(&self.0, message, tag).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.0, message).as_ref().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// A public key: the uncompressed P-256 point (ES256) or the Ed25519 key (EdDSA).
struct PublicKey {
    algorithm: Algorithm,
    verification: &'static dyn VerificationAlgorithm,
    key: Vec<u8>,
}

impl Verifier<Vec<u8>> for PublicKey {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(self.verification, &self.key)
            .verify(message, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for PublicKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// The checker of `algorithm` signatures with `key`; any other algorithm, or a key of another
/// family, is refused here too (jsonwebtoken also checks the family).
fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let bytes = key.try_get_as_bytes()?;
    let public = |verification: &'static dyn VerificationAlgorithm| {
        Box::new(PublicKey {
            algorithm: *algorithm,
            verification,
            key: bytes.to_vec(),
        })
    };
    match (algorithm, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => {
            Ok(Box::new(Hs256(hmac::Key::new(hmac::HMAC_SHA256, bytes))))
        }
        (Algorithm::ES256, AlgorithmFamily::Ec) => Ok(public(&ECDSA_P256_SHA256_FIXED)),
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => Ok(public(&ED25519)),
        (Algorithm::HS256 | Algorithm::ES256 | Algorithm::EdDSA, _) => {
            Err(ErrorKind::InvalidKeyFormat.into())
        }
        _ => Err(ErrorKind::UnsupportedAlgorithm.into()),
    }
}

/// The signer of HS256 tokens; nothing else is signed here.
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    match (algorithm, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(Box::new(Hs256(hmac::Key::new(
            hmac::HMAC_SHA256,
            key.as_bytes(),
        )))),
        _ => Err(ErrorKind::UnsupportedAlgorithm.into()),
    }
}
