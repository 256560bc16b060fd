//! User tokens as JSON Web Tokens: the keys they are checked with (HS256 secrets, or one ES256
//! or EdDSA public key), the one algorithm those keys admit, the check itself, and HS256 tokens
//! minted for local runs and tests. What checked claims mean (time, user) is the domain's
//! (`domain::user_token`).

mod crypto;

use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::ids::UserToken;
use crate::domain::user_token::{Claims, ClaimsError, Expiry};
use crate::webhook::gate::secrets::{ReadError, SecretValue};

/// Shortest accepted HS256 secret, in bytes: as long as the hash (RFC 7518, section 3.2).
pub const MIN_SECRET_BYTES: usize = 32;

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

/// The keys user tokens are checked with. They admit one algorithm, which a token's header must
/// name: HS256 for secrets, ES256 for a P-256 public key, EdDSA for an Ed25519 public key.
#[derive(Clone)]
pub struct UserTokenKeys {
    algorithm: Algorithm,
    /// Any one may have signed a token: several while a secret is rotated.
    keys: Vec<DecodingKey>,
    validation: Validation,
}

/// Why configured keys cannot check user tokens (never shows a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The secret is blank, or only commas.
    #[error("the user token secret lists no key")]
    NoSecret,
    /// A secret is too short to be a key.
    #[error("a user token secret is shorter than {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    /// The public key is not one that can check ES256 or EdDSA signatures.
    #[error(
        "the user token public key is not a P-256 (ES256) or Ed25519 (EdDSA) public key in PEM \
         ({PEM_BEGIN} ... {PEM_END})"
    )]
    PublicKey,
    /// jsonwebtoken has no cryptography to check with.
    #[error("no JWT crypto provider could be installed")]
    NoProvider,
}

/// Why a user token names no user. Its message never shows the token or its claims.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejected {
    /// Not three parts, or a header that does not name a known algorithm (`none` is none).
    #[error("not a JWT with a known algorithm")]
    Header(#[source] jsonwebtoken::errors::Error),
    /// Its header names another algorithm than the configured key's.
    #[error("signed with {found:?}, not {expected:?}")]
    Algorithm {
        /// The header's algorithm.
        found: Algorithm,
        /// The one the key admits.
        expected: Algorithm,
    },
    /// No configured key made its signature.
    #[error("its signature does not match the key")]
    Signature,
    /// Its signature or claims are not what a JWT holds (a `sub` that is not a string, a time
    /// that is not a number).
    #[error("its signature or claims cannot be read")]
    Unreadable(#[source] jsonwebtoken::errors::Error),
    /// Its claims name no user now.
    #[error(transparent)]
    Claims(#[from] ClaimsError),
}

/// Why no token could be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The secret is not a usable key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The expiry is past the end of time.
    #[error("the token's lifetime is out of range")]
    OutOfRange,
    /// jsonwebtoken could not sign it.
    #[error("the token could not be signed")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// The claims read from a token; the times are checked by the domain.
#[derive(Deserialize)]
struct Signed {
    sub: Option<String>,
    exp: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
}

/// The claims a minted token carries.
#[derive(Serialize)]
struct Minted<'a> {
    sub: &'a str,
    iat: i64,
    exp: i64,
}

impl Signed {
    fn claims(self) -> Result<Claims, ClaimsError> {
        let seconds = |n: Option<serde_json::Number>, claim| {
            n.map(|n| n.as_i64().ok_or(ClaimsError::NotATime(claim)))
                .transpose()
        };
        Ok(Claims {
            subject: self.sub,
            expires_at: seconds(self.exp, "exp")?,
            not_before: seconds(self.nbf, "nbf")?,
        })
    }
}

/// The secrets in `value`, comma-separated and trimmed, each long enough to be a key.
fn secrets(value: &str) -> Result<Vec<&str>, KeyError> {
    let secrets: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(KeyError::NoSecret);
    }
    if secrets.iter().any(|s| s.len() < MIN_SECRET_BYTES) {
        return Err(KeyError::ShortSecret);
    }
    Ok(secrets)
}

/// `text` as a PEM public key with its lines restored: pasted into a template parameter or an
/// environment variable, it may come on one line, or with its line breaks written as `\n`.
fn canonical_pem(text: &str) -> Option<String> {
    let text = text.replace("\\n", "\n");
    let (_, rest) = text.split_once(PEM_BEGIN)?;
    let (body, _) = rest.split_once(PEM_END)?;
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if body.is_empty() || !body.is_ascii() {
        return None;
    }
    let mut pem = format!("{PEM_BEGIN}\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).ok()?);
        pem.push('\n');
    }
    pem.push_str(PEM_END);
    pem.push('\n');
    Some(pem)
}

impl UserTokenKeys {
    /// HS256 with any of the comma-separated `secrets` (`USER_TOKEN_JWT_SECRET`, or the managed
    /// secret's value); each is used as its bytes, at least [`MIN_SECRET_BYTES`] of them.
    pub fn shared_secrets(secrets_value: &str) -> Result<Self, KeyError> {
        let keys = secrets(secrets_value)?
            .into_iter()
            .map(|s| DecodingKey::from_secret(s.as_bytes()).map_err(|_| KeyError::NoSecret))
            .collect::<Result<_, _>>()?;
        Self::new(Algorithm::HS256, keys)
    }

    /// The public key in `pem` (`USER_TOKEN_JWT_PUBLIC_KEY`): ES256 for a P-256 key, EdDSA
    /// for an Ed25519 key; any other is refused.
    pub fn public_key(pem: &str) -> Result<Self, KeyError> {
        let pem = canonical_pem(pem).ok_or(KeyError::PublicKey)?;
        let pem = pem.as_bytes();
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return match key.try_get_as_bytes() {
                Ok(bytes) if bytes.len() == 32 => Self::new(Algorithm::EdDSA, vec![key]),
                _ => Err(KeyError::PublicKey),
            };
        }
        let key = DecodingKey::from_ec_pem(pem).map_err(|_| KeyError::PublicKey)?;
        match key.try_get_as_bytes() {
            // An uncompressed P-256 point; a P-384 key has 97 bytes.
            Ok(point) if point.len() == 65 && point.first() == Some(&4) => {
                Self::new(Algorithm::ES256, vec![key])
            }
            _ => Err(KeyError::PublicKey),
        }
    }

    fn new(algorithm: Algorithm, keys: Vec<DecodingKey>) -> Result<Self, KeyError> {
        if !crypto::installed() {
            return Err(KeyError::NoProvider);
        }
        let mut validation = Validation::new(algorithm);
        // Times and `sub` are the domain's to check (`Claims::user`), against the request's
        // clock; jsonwebtoken checks the signature and that the header names `algorithm`.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Ok(Self {
            algorithm,
            keys,
            validation,
        })
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The user `token` names at `now`: signed by one of these keys with their algorithm, then
    /// within its time as `expiry` says, with a `sub` that is a user id.
    pub fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
        expiry: Expiry,
    ) -> Result<UserToken, TokenRejected> {
        let header = jsonwebtoken::decode_header(token).map_err(TokenRejected::Header)?;
        if header.alg != self.algorithm {
            return Err(TokenRejected::Algorithm {
                found: header.alg,
                expected: self.algorithm,
            });
        }
        for key in &self.keys {
            match jsonwebtoken::decode::<Signed>(token, key, &self.validation) {
                Ok(signed) => return Ok(signed.claims.claims()?.user(now, expiry)?),
                // Perhaps the other key of a rotation.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                Err(e) if matches!(e.kind(), ErrorKind::InvalidAlgorithm) => {
                    return Err(TokenRejected::Algorithm {
                        found: header.alg,
                        expected: self.algorithm,
                    })
                }
                Err(e) => return Err(TokenRejected::Unreadable(e)),
            }
        }
        Err(TokenRejected::Signature)
    }
}

impl fmt::Debug for UserTokenKeys {
    /// The algorithm and how many keys, never a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTokenKeys")
            .field("algorithm", &self.algorithm)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl SecretValue for UserTokenKeys {
    const WHAT: &'static str = "user token keys";

    fn from_secret(value: &str) -> Result<Self, ReadError> {
        Self::shared_secrets(value).map_err(|e| match e {
            KeyError::NoSecret => ReadError::Empty("user token secret"),
            other => ReadError::Invalid(Box::new(other)),
        })
    }

    fn count(&self) -> usize {
        self.keys.len()
    }
}

/// An HS256 token naming `user`, issued at `now` and expiring `lifetime` later, signed with the
/// first of the comma-separated `secrets_value` (as `USER_TOKEN_JWT_SECRET` lists them).
pub fn mint_hs256(
    secrets_value: &str,
    user: &UserToken,
    now: OffsetDateTime,
    lifetime: time::Duration,
) -> Result<String, MintError> {
    let secret = secrets(secrets_value)?
        .into_iter()
        .next()
        .ok_or(KeyError::NoSecret)?;
    if !crypto::installed() {
        return Err(KeyError::NoProvider.into());
    }
    let expires = now.checked_add(lifetime).ok_or(MintError::OutOfRange)?;
    let claims = Minted {
        sub: user.as_str(),
        iat: now.unix_timestamp(),
        exp: expires.unix_timestamp(),
    };
    let key = EncodingKey::from_secret(secret.as_bytes()).map_err(MintError::Sign)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map_err(MintError::Sign)
}

#[cfg(test)]
mod tests;
