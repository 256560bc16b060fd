//! Which route a request is for, with its path parameters read and checked like body fields.
//!
//! Behind API Gateway, each route is declared (`GET /purchases/{purchaseId}`…): the event names
//! it (`routeKey`) and carries its parameters decoded (`pathParameters`). HTTP APIs also decode
//! `rawPath`, so a `%2F` in an id would split it there: the parameters are taken from
//! `pathParameters` then. Anywhere else (`$default`, a function URL, the local runner), the path
//! is read from the raw path, percent-encoded as sent, and each parameter decoded here.

use std::borrow::Cow;

use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use percent_encoding::percent_decode_str;
use shared::domain::ids::{PurchaseId, UserToken};
use shared::domain::payload::FieldError;

/// Every route, as API Gateway names it (the template declares each).
pub const ROUTES: [&str; 5] = [GRANT, PURCHASE, REFUND, USER, ERASE];
const GRANT: &str = "POST /purchases";
const PURCHASE: &str = "GET /purchases/{purchaseId}";
const REFUND: &str = "POST /purchases/{purchaseId}/refund";
const USER: &str = "GET /users/{userToken}";
const ERASE: &str = "DELETE /users/{userToken}";

/// A request the API serves, its path parameters read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /purchases`: grant a purchase.
    Grant,
    /// `GET /purchases/{purchaseId}`: a purchase and its units.
    Purchase(PurchaseId),
    /// `POST /purchases/{purchaseId}/refund`: refund what is unused.
    Refund(PurchaseId),
    /// `GET /users/{userToken}`: what is stored about a user.
    User(UserToken),
    /// `DELETE /users/{userToken}`: erase a user.
    Erase(UserToken),
}

/// A request for no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrouted {
    /// No route has this path.
    #[error("not found")]
    NotFound,
    /// A route has this path, not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A path parameter is not a valid value of its field.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl Route {
    /// The route's name, as API Gateway names it (and the log says it).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Grant => GRANT,
            Self::Purchase(_) => PURCHASE,
            Self::Refund(_) => REFUND,
            Self::User(_) => USER,
            Self::Erase(_) => ERASE,
        }
    }

    /// The route `request` is for.
    pub fn of(request: &Request) -> Result<Self, Unrouted> {
        let segments = segments(request);
        let method = request.method();
        let (get, post, delete) = (
            method == Method::GET,
            method == Method::POST,
            method == Method::DELETE,
        );
        match segments.as_slice() {
            [purchases] if purchases.is("purchases") => match post {
                true => Ok(Self::Grant),
                false => Err(Unrouted::MethodNotAllowed),
            },
            [purchases, id] if purchases.is("purchases") => match get {
                true => Ok(Self::Purchase(
                    id.read(PurchaseId::FIELD, PurchaseId::parse)?,
                )),
                false => Err(Unrouted::MethodNotAllowed),
            },
            [purchases, id, refund] if purchases.is("purchases") && refund.is("refund") => {
                match post {
                    true => Ok(Self::Refund(id.read(PurchaseId::FIELD, PurchaseId::parse)?)),
                    false => Err(Unrouted::MethodNotAllowed),
                }
            }
            [users, token] if users.is("users") => {
                let user = || token.read(UserToken::FIELD, UserToken::parse);
                match (get, delete) {
                    (true, _) => Ok(Self::User(user()?)),
                    (_, true) => Ok(Self::Erase(user()?)),
                    _ => Err(Unrouted::MethodNotAllowed),
                }
            }
            _ => Err(Unrouted::NotFound),
        }
    }
}

/// One segment of a request's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<'a> {
    /// As sent: percent-encoded.
    Raw(&'a str),
    /// A parameter API Gateway decoded (`None`: the event does not carry it).
    Decoded(Option<&'a str>),
}

impl Segment<'_> {
    /// Whether it is the literal `name`.
    fn is(&self, name: &str) -> bool {
        matches!(self, Self::Raw(raw) if *raw == name)
    }

    /// Its value as `field`, decoded and parsed by `parse`.
    fn read<T>(
        &self,
        field: &'static str,
        parse: fn(&str) -> Result<T, FieldError>,
    ) -> Result<T, FieldError> {
        let text: Cow<'_, str> = match self {
            Self::Raw(raw) => {
                percent_decode_str(raw)
                    .decode_utf8()
                    .map_err(|_| FieldError::Malformed {
                        field,
                        expected: "must be percent-encoded UTF-8",
                    })?
            }
            Self::Decoded(Some(value)) => Cow::Borrowed(value),
            Self::Decoded(None) => return Err(FieldError::Missing(field)),
        };
        parse(&text)
    }
}

/// The path's segments (after the leading `/`): the declared route's, with its parameters as
/// API Gateway decoded them, or else the raw path's.
fn segments(request: &Request) -> Vec<Segment<'_>> {
    if let Some(template) = declared_route(request) {
        let parameters = request.path_parameters_ref();
        return split(template)
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Decoded(parameters.and_then(|p| p.first(name))),
                    None => Segment::Raw(segment),
                },
            )
            .collect();
    }
    split(request.raw_http_path()).map(Segment::Raw).collect()
}

/// The path of the route API Gateway matched, if it names one of ours (not `$default`).
fn declared_route(request: &Request) -> Option<&str> {
    let RequestContext::ApiGatewayV2(context) = request.request_context_ref()? else {
        return None;
    };
    let key = context.route_key.as_deref()?;
    ROUTES
        .contains(&key)
        .then(|| key.split_once(' ').map(|(_, path)| path))?
}

/// A path's segments after its leading `/`.
fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An HTTP API event for `method` `raw_path`, matched to `route_key` with `parameters`.
    fn event(
        method: &str,
        raw_path: &str,
        route_key: &str,
        parameters: serde_json::Value,
    ) -> Request {
        let mut event = shared::testkit::api_gateway_event(raw_path, None, false);
        event["routeKey"] = route_key.into();
        event["requestContext"]["routeKey"] = route_key.into();
        event["requestContext"]["http"]["method"] = method.into();
        event["pathParameters"] = parameters;
        shared::testkit::parse_event(&event)
    }

    /// The same without a declared route, as a function URL or the local runner sends it.
    fn raw(method: &str, raw_path: &str) -> Request {
        event(method, raw_path, "$default", json!({}))
    }

    fn purchase(id: &str) -> PurchaseId {
        PurchaseId::parse(id).unwrap()
    }

    fn user(token: &str) -> UserToken {
        UserToken::parse(token).unwrap()
    }

    #[test]
    fn routes_by_method_and_raw_path() {
        for (method, path, route) in [
            ("POST", "/purchases", Route::Grant),
            ("GET", "/purchases/p1", Route::Purchase(purchase("p1"))),
            (
                "POST",
                "/purchases/p1/refund",
                Route::Refund(purchase("p1")),
            ),
            ("GET", "/users/u1", Route::User(user("u1"))),
            ("DELETE", "/users/u1", Route::Erase(user("u1"))),
        ] {
            assert_eq!(
                Route::of(&raw(method, path)),
                Ok(route.clone()),
                "{method} {path}"
            );
            assert!(ROUTES.contains(&route.name()));
        }
    }

    #[test]
    fn raw_path_parameters_are_percent_decoded() {
        assert_eq!(
            Route::of(&raw("GET", "/purchases/order%2F42%20a%C3%A9")),
            Ok(Route::Purchase(purchase("order/42 aé")))
        );
        assert_eq!(
            Route::of(&raw("DELETE", "/users/user%40example.com")),
            Ok(Route::Erase(user("user@example.com")))
        );
        // `+` is itself in a path, not a space.
        assert_eq!(
            Route::of(&raw("GET", "/users/a+b")),
            Ok(Route::User(user("a+b")))
        );
    }

    #[test]
    fn a_declared_route_takes_its_parameters_as_api_gateway_decoded_them() {
        // HTTP APIs decode rawPath: an id holding a slash arrives split there.
        let request = event(
            "GET",
            "/purchases/order/42",
            PURCHASE,
            json!({"purchaseId": "order/42"}),
        );
        assert_eq!(
            Route::of(&request),
            Ok(Route::Purchase(purchase("order/42")))
        );
        // Decoded once: a `%` in the value is itself.
        let request = event("GET", "/users/100%25", USER, json!({"userToken": "100%"}));
        assert_eq!(Route::of(&request), Ok(Route::User(user("100%"))));
        let request = event("POST", "/purchases", GRANT, json!(null));
        assert_eq!(Route::of(&request), Ok(Route::Grant));
        // A declared route without its parameter: named as missing.
        let request = event("DELETE", "/users/x", ERASE, json!({}));
        assert_eq!(
            Route::of(&request),
            Err(Unrouted::Invalid(FieldError::Missing("userToken")))
        );
    }

    #[test]
    fn other_paths_are_not_found_and_other_methods_not_allowed() {
        for path in [
            "/",
            "/purchase",
            "/purchases/p1/refunds",
            "/users",
            "/users/u1/x",
            "/sdk/activation-request",
        ] {
            assert_eq!(
                Route::of(&raw("GET", path)),
                Err(Unrouted::NotFound),
                "{path}"
            );
        }
        for (method, path) in [
            ("GET", "/purchases"),
            ("PUT", "/purchases"),
            ("DELETE", "/purchases/p1"),
            ("POST", "/purchases/p1"),
            ("GET", "/purchases/p1/refund"),
            ("POST", "/users/u1"),
            ("PATCH", "/users/u1"),
        ] {
            assert_eq!(
                Route::of(&raw(method, path)),
                Err(Unrouted::MethodNotAllowed),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn path_parameters_are_checked_like_body_fields() {
        for (method, path, error) in [
            ("GET", "/purchases/", "purchaseId is empty"),
            ("GET", "/purchases/%20", "purchaseId is empty"),
            (
                "POST",
                "/purchases/a%0Ab/refund",
                "purchaseId contains control characters",
            ),
            (
                "GET",
                "/users/%FF",
                "userToken must be percent-encoded UTF-8",
            ),
            ("DELETE", "/users/", "userToken is empty"),
        ] {
            match Route::of(&raw(method, path)) {
                Err(Unrouted::Invalid(invalid)) => assert_eq!(invalid.to_string(), error),
                other => panic!("{method} {path}: {other:?}"),
            }
        }
        let long = format!("/purchases/{}", "p".repeat(PurchaseId::MAX_LEN + 1));
        assert!(matches!(
            Route::of(&raw("GET", &long)),
            Err(Unrouted::Invalid(FieldError::TooLong {
                field: "purchaseId",
                ..
            }))
        ));
    }
}
