//! Configuration from the environment, read once at init.

use crate::adapters::gigastore::{
    BaseUrl, ClientCredentials, CredentialSource, GigastoreClient, InvalidBaseUrl,
};
use crate::adapters::secrets_manager;
use crate::adapters::tls::TlsSetupError;
use crate::domain::erasure::{ShortKey, UserHashKey};
use crate::webhook::gate::credentials::WebhookSecrets;
use crate::webhook::gate::jwt::{KeyError, UserTokenKeys};
use crate::webhook::gate::sources::{InvalidCidr, SourceAllowList};

/// What every function needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Where the accepted webhook secrets come from.
    pub secrets: SecretsConfig,
    /// Where calls may come from (`ALLOWED_SOURCE_CIDRS`, comma-separated; empty allows all).
    pub allowed_sources: SourceAllowList,
}

/// Where the accepted webhook secrets come from.
#[derive(Debug, Clone)]
pub enum SecretsConfig {
    /// A Secrets Manager secret, by ARN (`WEBHOOK_SECRET_ARN`): how functions run in AWS.
    Managed {
        /// The secret's ARN.
        arn: String,
    },
    /// Fixed secrets (`WEBHOOK_SECRETS`, comma-separated): local runs and tests.
    Fixed(WebhookSecrets),
}

/// The environment cannot run a function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `TABLE_NAME` is unset or blank.
    #[error("TABLE_NAME is not set")]
    MissingTableName,
    /// `ALLOWED_SOURCE_CIDRS` is not a list of CIDRs.
    #[error(transparent)]
    AllowedSources(#[from] InvalidCidr),
    /// `USER_TOKEN_JWT_SECRET` or `USER_TOKEN_JWT_PUBLIC_KEY` is not a usable key.
    #[error(transparent)]
    UserTokenKey(#[from] KeyError),
    /// A public key and a secret are both set: which one signs is not clear.
    #[error(
        "USER_TOKEN_JWT_PUBLIC_KEY and USER_TOKEN_JWT_SECRET(_ARN) are both set: set the one the \
         tokens are signed with"
    )]
    UserTokenKeysConflict,
    /// `USER_HASH_KEY` is too short to key the erased users' hashes.
    #[error("USER_HASH_KEY: {0}")]
    UserHashKey(#[from] ShortKey),
    /// `GIGASTORE_API_URL` is not an `http(s)` base URL.
    #[error("GIGASTORE_API_URL: {0}")]
    GigastoreUrl(#[from] InvalidBaseUrl),
    /// No Gigastore credentials are configured, or only half of them.
    #[error(
        "set GIGASTORE_CREDENTIALS_ARN, or both GIGASTORE_CLIENT_ID and GIGASTORE_CLIENT_SECRET"
    )]
    MissingGigastoreCredentials,
}

/// Whether user tokens are verified, and with what (README, "Verified user tokens"). Read only
/// by the functions whose payloads name the user; a key that cannot be used fails init, so a
/// misconfiguration never turns verification off.
#[derive(Debug, Clone, Default)]
pub enum UserTokenConfig {
    /// Not verified (nothing set): the token is the user id.
    #[default]
    Off,
    /// HS256 secrets in Secrets Manager, by ARN (`USER_TOKEN_JWT_SECRET_ARN`): in AWS.
    Managed {
        /// The secret's ARN.
        arn: String,
    },
    /// Fixed keys: HS256 secrets (`USER_TOKEN_JWT_SECRET`, local runs and tests) or a public
    /// key (`USER_TOKEN_JWT_PUBLIC_KEY`, PEM: ES256 or EdDSA).
    Keys(Box<UserTokenKeys>),
}

impl UserTokenConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the user token keys through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let arn = non_blank(&lookup, "USER_TOKEN_JWT_SECRET_ARN");
        let secret = non_blank(&lookup, "USER_TOKEN_JWT_SECRET");
        let public_key = non_blank(&lookup, "USER_TOKEN_JWT_PUBLIC_KEY");
        let config = match (arn, secret, public_key) {
            (None, None, None) => Self::Off,
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(ConfigError::UserTokenKeysConflict)
            }
            (Some(arn), secret, None) => {
                if secret.is_some() {
                    tracing::warn!(
                        "USER_TOKEN_JWT_SECRET is ignored: USER_TOKEN_JWT_SECRET_ARN is set"
                    );
                }
                Self::Managed { arn }
            }
            (None, Some(secret), None) => {
                Self::Keys(Box::new(UserTokenKeys::shared_secrets(&secret)?))
            }
            (None, None, Some(pem)) => Self::Keys(Box::new(UserTokenKeys::public_key(&pem)?)),
        };
        Ok(config)
    }
}

/// Where the key of erased users' hashes comes from (README, "Erasure"), for the functions that
/// erase or match erased users (the purchase API, Activation Request) and the CLI's `forget`.
/// The key must never change: records erased under one key are matched under it only.
#[derive(Debug, Clone, Default)]
pub enum UserHashKeyConfig {
    /// Neither variable set: nothing can be erased, and erased users are not recognised.
    #[default]
    None,
    /// A Secrets Manager secret, by ARN (`USER_HASH_KEY_ARN`): in AWS.
    Managed {
        /// The secret's ARN.
        arn: String,
    },
    /// The key itself (`USER_HASH_KEY`): local runs and tests.
    Fixed(UserHashKey),
}

impl UserHashKeyConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the key's source through `lookup`: `USER_HASH_KEY_ARN` wins over `USER_HASH_KEY`,
    /// whose value (trimmed, as a secret's is) must have at least 32 bytes.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let arn = non_blank(&lookup, "USER_HASH_KEY_ARN");
        let key = non_blank(&lookup, "USER_HASH_KEY");
        Ok(match (arn, key) {
            (Some(arn), key) => {
                if key.is_some() {
                    tracing::warn!("USER_HASH_KEY is ignored: USER_HASH_KEY_ARN is set");
                }
                Self::Managed { arn }
            }
            (None, Some(key)) => Self::Fixed(UserHashKey::from_secret(&key)?),
            (None, None) => Self::None,
        })
    }
}

/// Gigastore's partner API, for what calls it (top-ups, refunds, the catalogue): where it is
/// and whose credentials call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GigastoreConfig {
    /// `GIGASTORE_API_URL`; Gigastore's production API when unset.
    pub base_url: BaseUrl,
    /// Where the client credentials come from.
    pub credentials: GigastoreCredentials,
}

/// Where Gigastore's client credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GigastoreCredentials {
    /// A Secrets Manager secret holding `{"clientId", "clientSecret"}`, by ARN
    /// (`GIGASTORE_CREDENTIALS_ARN`): in AWS.
    Managed {
        /// The secret's ARN.
        arn: String,
    },
    /// `GIGASTORE_CLIENT_ID` and `GIGASTORE_CLIENT_SECRET`: local runs and tests.
    Fixed(ClientCredentials),
}

impl GigastoreConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads Gigastore's configuration through `lookup`: `GIGASTORE_CREDENTIALS_ARN` wins over
    /// `GIGASTORE_CLIENT_ID` and `GIGASTORE_CLIENT_SECRET`, which go together.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let base_url = BaseUrl::parse(
            &non_blank(&lookup, "GIGASTORE_API_URL").unwrap_or_else(|| BaseUrl::DEFAULT.into()),
        )?;
        let id = non_blank(&lookup, "GIGASTORE_CLIENT_ID");
        let secret = non_blank(&lookup, "GIGASTORE_CLIENT_SECRET");
        let credentials = match (non_blank(&lookup, "GIGASTORE_CREDENTIALS_ARN"), id, secret) {
            (Some(arn), id, secret) => {
                if id.is_some() || secret.is_some() {
                    tracing::warn!(
                        "GIGASTORE_CLIENT_ID and GIGASTORE_CLIENT_SECRET are ignored: \
                         GIGASTORE_CREDENTIALS_ARN is set"
                    );
                }
                GigastoreCredentials::Managed { arn }
            }
            (None, Some(id), Some(secret)) => GigastoreCredentials::Fixed(
                ClientCredentials::new(&id, &secret)
                    .ok_or(ConfigError::MissingGigastoreCredentials)?,
            ),
            (None, _, _) => return Err(ConfigError::MissingGigastoreCredentials),
        };
        Ok(Self {
            base_url,
            credentials,
        })
    }

    /// The client this configuration describes; a managed secret is read through a Secrets
    /// Manager client over `sdk`, when a token is first needed (and about once a day after).
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> Result<GigastoreClient, TlsSetupError> {
        let source = match &self.credentials {
            GigastoreCredentials::Managed { arn } => CredentialSource::Managed {
                client: secrets_manager::client(sdk),
                secret_id: arn.clone(),
            },
            GigastoreCredentials::Fixed(credentials) => {
                CredentialSource::Fixed(credentials.clone())
            }
        };
        GigastoreClient::new(self.base_url.clone(), source)
    }
}

/// `name`'s value through `lookup`, trimmed; `None` when unset or blank. Every function reads
/// its variables with it, so a blank value means unset everywhere.
pub fn non_blank(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The table (`TABLE_NAME`), read through `lookup`: all a function that takes no webhook
/// secrets needs of [`Config`].
pub fn table_name(lookup: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    non_blank(lookup, "TABLE_NAME").ok_or(ConfigError::MissingTableName)
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = table_name(&lookup)?;
        let secrets = match non_blank(&lookup, "WEBHOOK_SECRET_ARN") {
            Some(arn) => {
                if non_blank(&lookup, "WEBHOOK_SECRETS").is_some() {
                    tracing::warn!("WEBHOOK_SECRETS is ignored: WEBHOOK_SECRET_ARN is set");
                }
                SecretsConfig::Managed { arn }
            }
            None => {
                let secrets = WebhookSecrets::parse(&lookup("WEBHOOK_SECRETS").unwrap_or_default());
                if secrets.is_empty() {
                    tracing::error!(
                        "neither WEBHOOK_SECRET_ARN nor WEBHOOK_SECRETS is set: every request \
                         will be refused with 401"
                    );
                }
                SecretsConfig::Fixed(secrets)
            }
        };
        let allowed_sources =
            SourceAllowList::parse(&lookup("ALLOWED_SOURCE_CIDRS").unwrap_or_default())?;
        Ok(Self {
            table_name,
            secrets,
            allowed_sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhook-AbCdEf";

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn table_name_is_required() {
        assert_eq!(read(&[]).unwrap_err(), ConfigError::MissingTableName);
        assert_eq!(
            read(&[("TABLE_NAME", "  ")]).unwrap_err(),
            ConfigError::MissingTableName
        );
        assert_eq!(read(&[("TABLE_NAME", " t ")]).unwrap().table_name, "t");
    }

    #[test]
    fn webhook_secrets_are_read_when_no_arn_is_set() {
        let config = read(&[("TABLE_NAME", "t"), ("WEBHOOK_SECRETS", "a,b")]).unwrap();
        assert!(matches!(config.secrets, SecretsConfig::Fixed(s) if s.len() == 2));
        let blank_arn = read(&[
            ("TABLE_NAME", "t"),
            ("WEBHOOK_SECRET_ARN", " "),
            ("WEBHOOK_SECRETS", "a"),
        ])
        .unwrap();
        assert!(matches!(blank_arn.secrets, SecretsConfig::Fixed(s) if s.len() == 1));
    }

    #[test]
    fn no_secret_at_all_is_an_empty_fixed_list() {
        let config = read(&[("TABLE_NAME", "t")]).unwrap();
        assert!(matches!(config.secrets, SecretsConfig::Fixed(s) if s.is_empty()));
    }

    #[test]
    fn a_secret_arn_wins_over_webhook_secrets() {
        for vars in [
            &[("TABLE_NAME", "t"), ("WEBHOOK_SECRET_ARN", ARN)][..],
            &[
                ("TABLE_NAME", "t"),
                ("WEBHOOK_SECRET_ARN", &format!(" {ARN}\n")),
                ("WEBHOOK_SECRETS", "local-dev-secret"),
            ][..],
        ] {
            let config = read(vars).unwrap();
            assert!(
                matches!(&config.secrets, SecretsConfig::Managed { arn } if arn == ARN),
                "{:?}",
                config.secrets
            );
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let config = read(&[("TABLE_NAME", "t"), ("WEBHOOK_SECRETS", "hunter2-secret")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    fn user_tokens(vars: &[(&str, &str)]) -> Result<UserTokenConfig, ConfigError> {
        UserTokenConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const JWT_SECRET: &str = "a-user-token-secret-of-32-bytes-or-more";

    #[test]
    fn user_tokens_are_off_unless_a_key_is_set() {
        assert!(matches!(user_tokens(&[]), Ok(UserTokenConfig::Off)));
        assert!(matches!(
            user_tokens(&[("USER_TOKEN_JWT_SECRET", " ")]),
            Ok(UserTokenConfig::Off)
        ));
        assert!(matches!(
            user_tokens(&[("USER_TOKEN_JWT_SECRET", JWT_SECRET)]),
            Ok(UserTokenConfig::Keys(keys)) if keys.algorithm() == jsonwebtoken::Algorithm::HS256
        ));
        let managed = user_tokens(&[
            ("USER_TOKEN_JWT_SECRET_ARN", ARN),
            ("USER_TOKEN_JWT_SECRET", JWT_SECRET),
        ]);
        assert!(matches!(managed, Ok(UserTokenConfig::Managed { arn }) if arn == ARN));
    }

    #[test]
    fn an_unusable_or_ambiguous_user_token_key_fails_init() {
        assert!(matches!(
            user_tokens(&[("USER_TOKEN_JWT_SECRET", "short")]),
            Err(ConfigError::UserTokenKey(KeyError::ShortSecret))
        ));
        assert!(matches!(
            user_tokens(&[("USER_TOKEN_JWT_PUBLIC_KEY", "not a key")]),
            Err(ConfigError::UserTokenKey(KeyError::PublicKey))
        ));
        for secret in ["USER_TOKEN_JWT_SECRET", "USER_TOKEN_JWT_SECRET_ARN"] {
            assert!(matches!(
                user_tokens(&[(secret, JWT_SECRET), ("USER_TOKEN_JWT_PUBLIC_KEY", "pem")]),
                Err(ConfigError::UserTokenKeysConflict)
            ));
        }
    }

    #[test]
    fn debug_never_shows_a_user_token_secret() {
        let config = user_tokens(&[("USER_TOKEN_JWT_SECRET", JWT_SECRET)]).unwrap();
        assert!(!format!("{config:?}").contains(JWT_SECRET));
    }

    fn user_hash_key(vars: &[(&str, &str)]) -> Result<UserHashKeyConfig, ConfigError> {
        UserHashKeyConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const HASH_KEY: &str = "a-user-hash-key-of-32-bytes-or-more";

    #[test]
    fn the_user_hash_key_is_fixed_managed_or_absent() {
        assert!(matches!(user_hash_key(&[]), Ok(UserHashKeyConfig::None)));
        assert!(matches!(
            user_hash_key(&[("USER_HASH_KEY", " "), ("USER_HASH_KEY_ARN", "")]),
            Ok(UserHashKeyConfig::None)
        ));
        let user = crate::domain::ids::UserToken::parse("u1").unwrap();
        let expected = UserHashKey::new(HASH_KEY.as_bytes()).unwrap().hash(&user);
        // Trimmed, as a secret's value is: the same key either way.
        match user_hash_key(&[("USER_HASH_KEY", &format!(" {HASH_KEY}\n"))]) {
            Ok(UserHashKeyConfig::Fixed(key)) => assert_eq!(key.hash(&user), expected),
            other => panic!("{other:?}"),
        }
        let managed = user_hash_key(&[("USER_HASH_KEY_ARN", ARN), ("USER_HASH_KEY", HASH_KEY)]);
        assert!(matches!(managed, Ok(UserHashKeyConfig::Managed { arn }) if arn == ARN));
    }

    #[test]
    fn a_short_user_hash_key_fails_init_and_is_never_shown() {
        let short = user_hash_key(&[("USER_HASH_KEY", "short-key")]).unwrap_err();
        assert_eq!(short, ConfigError::UserHashKey(ShortKey(9)));
        assert!(!short.to_string().contains("short-key"), "{short}");
        let fixed = user_hash_key(&[("USER_HASH_KEY", HASH_KEY)]).unwrap();
        assert!(!format!("{fixed:?}").contains(HASH_KEY));
    }

    fn gigastore(vars: &[(&str, &str)]) -> Result<GigastoreConfig, ConfigError> {
        GigastoreConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn gigastore_is_the_production_api_unless_a_url_is_set() {
        let vars = [
            ("GIGASTORE_CLIENT_ID", "id"),
            ("GIGASTORE_CLIENT_SECRET", "hunter2-secret"),
        ];
        let config = gigastore(&vars).unwrap();
        assert_eq!(config.base_url.as_str(), "https://api.giga.store");
        assert_eq!(
            config.credentials,
            GigastoreCredentials::Fixed(ClientCredentials::new("id", "hunter2-secret").unwrap())
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        let local = gigastore(&[
            vars[0],
            vars[1],
            ("GIGASTORE_API_URL", " http://127.0.0.1:8/ "),
        ]);
        assert_eq!(local.unwrap().base_url.as_str(), "http://127.0.0.1:8");
        assert!(matches!(
            gigastore(&[vars[0], vars[1], ("GIGASTORE_API_URL", "api.giga.store")]),
            Err(ConfigError::GigastoreUrl(_))
        ));
    }

    #[test]
    fn gigastore_credentials_are_managed_or_both_fixed() {
        let managed = gigastore(&[
            ("GIGASTORE_CREDENTIALS_ARN", ARN),
            ("GIGASTORE_CLIENT_ID", "id"),
        ]);
        assert_eq!(
            managed.unwrap().credentials,
            GigastoreCredentials::Managed { arn: ARN.into() }
        );
        for vars in [
            &[][..],
            &[("GIGASTORE_CLIENT_ID", "id")][..],
            &[("GIGASTORE_CLIENT_SECRET", "s")][..],
            &[
                ("GIGASTORE_CLIENT_ID", "id"),
                ("GIGASTORE_CLIENT_SECRET", " "),
            ][..],
            &[
                ("GIGASTORE_CREDENTIALS_ARN", " "),
                ("GIGASTORE_CLIENT_SECRET", "s"),
            ][..],
        ] {
            assert_eq!(
                gigastore(vars).unwrap_err(),
                ConfigError::MissingGigastoreCredentials,
                "{vars:?}"
            );
        }
    }

    #[test]
    fn allowed_sources_are_parsed() {
        let config = read(&[
            ("TABLE_NAME", "t"),
            ("ALLOWED_SOURCE_CIDRS", "203.0.113.0/24"),
        ])
        .unwrap();
        assert!(config.allowed_sources.allows(Some("203.0.113.9")));
        assert!(!config.allowed_sources.allows(Some("198.51.100.1")));
        assert_eq!(
            read(&[("TABLE_NAME", "t"), ("ALLOWED_SOURCE_CIDRS", "nope")]).unwrap_err(),
            ConfigError::AllowedSources(InvalidCidr("nope".into()))
        );
    }
}
