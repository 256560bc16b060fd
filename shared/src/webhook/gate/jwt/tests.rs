//! The verifier against tokens made by hand: signed with *ring* directly, so a fault in the
//! provider under test cannot hide itself.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use serde_json::{json, Value};

use super::*;

const SECRET: &str = "unit-test-user-token-secret-0123456789";
const OTHER: &str = "another-user-token-secret-9876543210xyz";
const NOW: i64 = 1_795_453_200;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.claims`, each part base64url-encoded JSON.
fn message(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn hmac_token(alg: &str, algorithm: ring::hmac::Algorithm, key: &str, claims: &Value) -> String {
    let message = message(&json!({"alg": alg, "typ": "JWT"}), claims);
    let key = ring::hmac::Key::new(algorithm, key.as_bytes());
    let tag = ring::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", b64(tag.as_ref()))
}

fn hs256(key: &str, claims: &Value) -> String {
    hmac_token("HS256", ring::hmac::HMAC_SHA256, key, claims)
}

fn valid() -> Value {
    json!({"sub": "u1", "iat": NOW - 10, "exp": NOW + 600})
}

fn keys() -> UserTokenKeys {
    UserTokenKeys::shared_secrets(SECRET).unwrap()
}

fn verify(keys: &UserTokenKeys, token: &str) -> Result<UserToken, TokenRejected> {
    keys.verify(token, now(), Expiry::Enforced)
}

/// A public key as PEM (SubjectPublicKeyInfo: the algorithm's fixed prefix, then the key).
fn pem(spki_prefix: &[u8], key: &[u8]) -> String {
    let der = [spki_prefix, key].concat();
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("{PEM_BEGIN}\n{}\n{PEM_END}\n", lines.join("\n"))
}

const P256_SPKI: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const P384_SPKI: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];
const ED25519_SPKI: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A fresh P-256 key pair and its public key as PEM.
fn p256() -> (EcdsaKeyPair, String) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let pem = pem(&P256_SPKI, pair.public_key().as_ref());
    (pair, pem)
}

fn es256(pair: &EcdsaKeyPair, claims: &Value) -> String {
    let message = message(&json!({"alg": "ES256", "typ": "JWT"}), claims);
    let signature = pair.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
    format!("{message}.{}", b64(signature.as_ref()))
}

/// A fresh Ed25519 key pair and its public key as PEM.
fn ed25519() -> (Ed25519KeyPair, String) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let pem = pem(&ED25519_SPKI, pair.public_key().as_ref());
    (pair, pem)
}

fn eddsa(pair: &Ed25519KeyPair, claims: &Value) -> String {
    let message = message(&json!({"alg": "EdDSA"}), claims);
    let signature = pair.sign(message.as_bytes());
    format!("{message}.{}", b64(signature.as_ref()))
}

#[test]
fn a_token_signed_with_the_key_names_its_subject() {
    assert_eq!(verify(&keys(), &hs256(SECRET, &valid())).unwrap(), "u1");
}

#[test]
fn a_token_signed_with_another_key_is_refused() {
    let forged = hs256(OTHER, &valid());
    assert!(matches!(
        verify(&keys(), &forged),
        Err(TokenRejected::Signature)
    ));
}

#[test]
fn an_altered_token_is_refused() {
    let token = hs256(SECRET, &valid());
    let mut parts: Vec<&str> = token.split('.').collect();
    let other_user = b64(json!({"sub": "u2", "exp": NOW + 600})
        .to_string()
        .as_bytes());
    parts[1] = &other_user;
    assert!(matches!(
        verify(&keys(), &parts.join(".")),
        Err(TokenRejected::Signature)
    ));
}

#[test]
fn either_secret_of_a_rotation_verifies() {
    let both = UserTokenKeys::shared_secrets(&format!(" {OTHER} , {SECRET},")).unwrap();
    for secret in [SECRET, OTHER] {
        assert_eq!(verify(&both, &hs256(secret, &valid())).unwrap(), "u1");
    }
}

#[test]
fn alg_none_is_refused_signed_or_not() {
    let unsigned = message(&json!({"alg": "none", "typ": "JWT"}), &valid());
    for token in [format!("{unsigned}."), format!("{unsigned}.c2ln")] {
        assert!(
            matches!(verify(&keys(), &token), Err(TokenRejected::Header(_))),
            "{token}"
        );
    }
}

#[test]
fn only_the_configured_algorithm_is_accepted() {
    let hs384 = hmac_token("HS384", ring::hmac::HMAC_SHA384, SECRET, &valid());
    assert!(matches!(
        verify(&keys(), &hs384),
        Err(TokenRejected::Algorithm {
            found: Algorithm::HS384,
            expected: Algorithm::HS256
        })
    ));
    // An HS256 token whose HMAC key is the public key itself, against an ES256 key: the
    // classic confusion, refused by the algorithm before any signature is computed.
    let (pair, pem) = p256();
    let public = UserTokenKeys::public_key(&pem).unwrap();
    let confused = hmac_token(
        "HS256",
        ring::hmac::HMAC_SHA256,
        &String::from_utf8_lossy(pair.public_key().as_ref()),
        &valid(),
    );
    assert!(matches!(
        verify(&public, &confused),
        Err(TokenRejected::Algorithm {
            found: Algorithm::HS256,
            expected: Algorithm::ES256
        })
    ));
    // And an ES256 token against HS256 keys.
    assert!(matches!(
        verify(&keys(), &es256(&pair, &valid())),
        Err(TokenRejected::Algorithm { .. })
    ));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused_with_the_leeway() {
    let expired = hs256(SECRET, &json!({"sub": "u1", "exp": NOW - 31}));
    assert!(matches!(
        verify(&keys(), &expired),
        Err(TokenRejected::Claims(ClaimsError::Expired))
    ));
    // Customer Registration takes it all the same.
    let registration = keys().verify(&expired, now(), Expiry::Ignored).unwrap();
    assert_eq!(registration, "u1");
    let within_leeway = hs256(SECRET, &json!({"sub": "u1", "exp": NOW - 29}));
    assert_eq!(verify(&keys(), &within_leeway).unwrap(), "u1");
    let early = hs256(
        SECRET,
        &json!({"sub": "u1", "exp": NOW + 600, "nbf": NOW + 31}),
    );
    assert!(matches!(
        verify(&keys(), &early),
        Err(TokenRejected::Claims(ClaimsError::NotYetValid))
    ));
    let nearly = hs256(
        SECRET,
        &json!({"sub": "u1", "exp": NOW + 600, "nbf": NOW + 29}),
    );
    assert_eq!(verify(&keys(), &nearly).unwrap(), "u1");
    let forever = hs256(SECRET, &json!({"sub": "u1"}));
    assert!(matches!(
        verify(&keys(), &forever),
        Err(TokenRejected::Claims(ClaimsError::MissingExpiry))
    ));
}

#[test]
fn a_missing_or_blank_subject_is_refused() {
    for claims in [
        json!({"exp": NOW + 600}),
        json!({"sub": null, "exp": NOW + 600}),
        json!({"sub": "", "exp": NOW + 600}),
        json!({"sub": "   ", "exp": NOW + 600}),
    ] {
        assert!(
            matches!(
                verify(&keys(), &hs256(SECRET, &claims)),
                Err(TokenRejected::Claims(ClaimsError::MissingSubject))
            ),
            "{claims}"
        );
    }
}

#[test]
fn claims_of_the_wrong_type_are_refused() {
    for claims in [
        json!({"sub": 7, "exp": NOW + 600}),
        json!({"sub": "u1", "exp": "2030-01-01"}),
        json!(["u1"]),
    ] {
        assert!(
            matches!(
                verify(&keys(), &hs256(SECRET, &claims)),
                Err(TokenRejected::Unreadable(_))
            ),
            "{claims}"
        );
    }
    let fraction = hs256(SECRET, &json!({"sub": "u1", "exp": 1.5e9}));
    assert!(matches!(
        verify(&keys(), &fraction),
        Err(TokenRejected::Claims(ClaimsError::NotATime("exp")))
    ));
}

#[test]
fn what_is_not_a_jwt_is_refused() {
    for token in ["", "u1", "a.b", "a.b.c.d", "USER_TOKEN_1234567", "...."] {
        assert!(verify(&keys(), token).is_err(), "{token}");
    }
}

#[test]
fn es256_and_eddsa_public_keys_verify_their_own_signatures_only() {
    let (pair, pem) = p256();
    let (other, _) = p256();
    let keys = UserTokenKeys::public_key(&pem).unwrap();
    assert_eq!(keys.algorithm(), Algorithm::ES256);
    assert_eq!(verify(&keys, &es256(&pair, &valid())).unwrap(), "u1");
    assert!(matches!(
        verify(&keys, &es256(&other, &valid())),
        Err(TokenRejected::Signature)
    ));

    let (pair, pem) = ed25519();
    let (other, _) = ed25519();
    let keys = UserTokenKeys::public_key(&pem).unwrap();
    assert_eq!(keys.algorithm(), Algorithm::EdDSA);
    assert_eq!(verify(&keys, &eddsa(&pair, &valid())).unwrap(), "u1");
    assert!(matches!(
        verify(&keys, &eddsa(&other, &valid())),
        Err(TokenRejected::Signature)
    ));
}

#[test]
fn a_pem_on_one_line_or_with_escaped_line_breaks_is_read() {
    let (pair, pem) = ed25519();
    for written in [
        pem.replace('\n', " "),
        pem.replace('\n', "\\n"),
        pem.clone(),
    ] {
        let keys = UserTokenKeys::public_key(&written).unwrap();
        assert_eq!(verify(&keys, &eddsa(&pair, &valid())).unwrap(), "u1");
    }
}

#[test]
fn keys_that_cannot_check_are_refused_at_configuration() {
    assert_eq!(
        UserTokenKeys::shared_secrets(" , ").unwrap_err(),
        KeyError::NoSecret
    );
    assert_eq!(
        UserTokenKeys::shared_secrets(&format!("{SECRET},short")).unwrap_err(),
        KeyError::ShortSecret
    );
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let p384 =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    for not_usable in [
        pem(&P384_SPKI, p384.public_key().as_ref()),
        "not a key".to_owned(),
        format!("{PEM_BEGIN}\n{PEM_END}"),
        format!("{PEM_BEGIN}\nbm90IGEga2V5\n{PEM_END}"),
        SECRET.to_owned(),
    ] {
        assert_eq!(
            UserTokenKeys::public_key(&not_usable).unwrap_err(),
            KeyError::PublicKey,
            "{not_usable}"
        );
    }
}

#[test]
fn minted_tokens_verify_and_carry_the_lifetime() {
    let user = UserToken::parse("u1").unwrap();
    let token = mint_hs256(
        &format!("{SECRET},{OTHER}"),
        &user,
        now(),
        time::Duration::minutes(10),
    )
    .unwrap();
    assert_eq!(verify(&keys(), &token).unwrap(), "u1");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
    assert_eq!(claims, json!({"sub": "u1", "iat": NOW, "exp": NOW + 600}));
    let later = now() + time::Duration::minutes(11);
    assert!(matches!(
        keys().verify(&token, later, Expiry::Enforced),
        Err(TokenRejected::Claims(ClaimsError::Expired))
    ));
    assert!(matches!(
        mint_hs256("short", &user, now(), time::Duration::minutes(1)),
        Err(MintError::Key(KeyError::ShortSecret))
    ));
    assert!(matches!(
        mint_hs256(SECRET, &user, now(), time::Duration::MAX),
        Err(MintError::OutOfRange)
    ));
}

#[test]
fn debug_and_errors_never_show_a_key_or_a_token() {
    let both = UserTokenKeys::shared_secrets(&format!("{SECRET},{OTHER}")).unwrap();
    let shown = format!("{both:?}");
    assert!(!shown.contains(SECRET) && !shown.contains(OTHER), "{shown}");
    assert!(shown.contains("HS256"), "{shown}");
    let forged = hs256(OTHER, &valid());
    let error = verify(&keys(), &forged).unwrap_err();
    let chain = crate::domain::store::chain(&error);
    assert!(!chain.contains(&forged) && !chain.contains("u1"), "{chain}");
}
