//! Who may call: the IAM identity API Gateway verified (`requestContext.authorizer.iam`), and,
//! when `PURCHASE_API_CALLERS` is set, only identities it lists.
//!
//! Signing is API Gateway's job (every route has `AWS_IAM` authorization); this check makes sure
//! a route deployed without the authorizer is no open door. Locally, where no API Gateway signs,
//! `PURCHASE_API_LOCAL_CALLER` names the caller of events that carry no IAM identity at all;
//! the template never sets it.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use shared::runtime::config::non_blank;

/// The callers list (`PURCHASE_API_CALLERS`).
pub const CALLERS_VAR: &str = "PURCHASE_API_CALLERS";
/// The local runner's caller (`PURCHASE_API_LOCAL_CALLER`): never set in AWS.
pub const LOCAL_CALLER_VAR: &str = "PURCHASE_API_LOCAL_CALLER";

/// Which IAM callers are served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Callers {
    /// ARN patterns (`*` matches any run of characters); `None` serves any IAM caller.
    allowed: Option<Vec<String>>,
    /// The caller of events without an IAM identity, for local runs only.
    local: Option<String>,
}

/// Why a request is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The event names no IAM caller: the route is not behind IAM authorization.
    #[error("forbidden: no IAM caller")]
    NoCaller,
    /// The caller is not in `PURCHASE_API_CALLERS` (its ARN, for the log).
    #[error("forbidden: caller not allowed")]
    NotAllowed(String),
}

impl Callers {
    /// Any IAM caller, as when nothing is configured.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only callers matching one of `patterns`.
    pub fn only<S: Into<String>>(patterns: impl IntoIterator<Item = S>) -> Self {
        Self {
            allowed: Some(patterns.into_iter().map(Into::into).collect()),
            local: None,
        }
    }

    /// The same, serving events without an IAM identity as `arn` (local runs only).
    pub fn with_local_caller(self, arn: impl Into<String>) -> Self {
        Self {
            local: Some(arn.into()),
            ..self
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `PURCHASE_API_CALLERS` (comma-separated; blank entries skipped; unset or blank
    /// serves any IAM caller) and `PURCHASE_API_LOCAL_CALLER` through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let allowed = non_blank(&lookup, CALLERS_VAR).map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let local = non_blank(&lookup, LOCAL_CALLER_VAR);
        if let Some(local) = &local {
            tracing::warn!(
                caller = %local,
                "{LOCAL_CALLER_VAR} is set: requests without an IAM caller are served as this \
                 caller (local runs only)"
            );
        }
        Self { allowed, local }
    }

    /// The caller of `request`, if it is served.
    pub fn admit(&self, request: &Request) -> Result<String, Refused> {
        let caller = match iam_caller(request) {
            Some(arn) => arn.to_owned(),
            // Only when the event has no IAM identity at all: never instead of a real one.
            None => self.local.clone().ok_or(Refused::NoCaller)?,
        };
        match &self.allowed {
            Some(patterns) if !patterns.iter().any(|p| matches(p, &caller)) => {
                Err(Refused::NotAllowed(caller))
            }
            _ => Ok(caller),
        }
    }
}

/// The IAM identity API Gateway verified for `request`: its `userArn`, else its `callerId`.
pub fn iam_caller(request: &Request) -> Option<&str> {
    let RequestContext::ApiGatewayV2(context) = request.request_context_ref()? else {
        return None;
    };
    let iam = context.authorizer.as_ref()?.iam.as_ref()?;
    given(&iam.user_arn).or_else(|| given(&iam.caller_id))
}

/// `value`, trimmed, unless absent or blank.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none too) and
/// every other character itself.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    // After the last `*` seen: where the pattern resumes, and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
            }
            Some(&expected) if expected == c => {
                p += 1;
                t += 1;
            }
            // Let the last `*` take one more character, and resume after it.
            _ => match star {
                Some((resume, tried)) => {
                    star = Some((resume, tried + 1));
                    p = resume;
                    t = tried + 1;
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROLE: &str = "arn:aws:sts::123456789012:assumed-role/PurchaseSystemRole/shop-1";

    #[test]
    fn a_star_matches_any_run_of_characters() {
        for (pattern, text) in [
            (ROLE, ROLE),
            ("*", ""),
            ("*", ROLE),
            (
                "arn:aws:sts::123456789012:assumed-role/PurchaseSystemRole/*",
                ROLE,
            ),
            ("arn:aws:sts::*:assumed-role/PurchaseSystemRole/*", ROLE),
            ("*PurchaseSystemRole*", ROLE),
            ("a*b*c", "abc"),
            ("a*b*c", "aXbYbZc"),
            ("a**c", "ac"),
        ] {
            assert!(matches(pattern, text), "{pattern} ~ {text}");
        }
        for (pattern, text) in [
            (
                ROLE,
                "arn:aws:sts::123456789012:assumed-role/PurchaseSystemRole/shop-10",
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/PurchaseSystemRole",
                ROLE,
            ),
            (
                "arn:aws:sts::999999999999:assumed-role/PurchaseSystemRole/*",
                ROLE,
            ),
            ("*OtherRole*", ROLE),
            ("a*b*c", "aXbYbZ"),
            ("", "a"),
            ("a", ""),
        ] {
            assert!(!matches(pattern, text), "{pattern} !~ {text}");
        }
    }

    /// The definition, by recursion: slow, obviously right.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.split_first(), text.split_first()) {
            (None, _) => text.is_empty(),
            (Some((b'*', rest)), _) => {
                reference(rest, text) || (!text.is_empty() && reference(pattern, &text[1..]))
            }
            (Some((p, rest)), Some((t, more))) => p == t && reference(rest, more),
            (Some(_), None) => false,
        }
    }

    proptest! {
        #[test]
        fn matches_as_the_definition_says(pattern in "[ab*]{0,8}", text in "[ab]{0,10}") {
            prop_assert_eq!(
                matches(&pattern, &text),
                reference(pattern.as_bytes(), text.as_bytes())
            );
        }

        #[test]
        fn never_panics_on_any_text(pattern in ".{0,20}", text in ".{0,40}") {
            let _ = matches(&pattern, &text);
        }
    }

    #[test]
    fn reads_the_callers_list() {
        let lookup = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Callers::from_lookup(lookup(&[])), Callers::any());
        assert_eq!(
            Callers::from_lookup(lookup(&[(CALLERS_VAR, " ")])),
            Callers::any()
        );
        assert_eq!(
            Callers::from_lookup(lookup(&[(CALLERS_VAR, " a* , ,b ")])),
            Callers::only(["a*", "b"])
        );
        // A list of nothing but commas serves nobody: set, it is never read as "anyone".
        assert_eq!(
            Callers::from_lookup(lookup(&[(CALLERS_VAR, ",")])),
            Callers::only(Vec::<String>::new())
        );
        assert_eq!(
            Callers::from_lookup(lookup(&[(
                LOCAL_CALLER_VAR,
                "arn:aws:iam::000000000000:user/local"
            )])),
            Callers::any().with_local_caller("arn:aws:iam::000000000000:user/local")
        );
    }
}
