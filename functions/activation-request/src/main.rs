//! Lambda entry point: serves the webhook over the table, with the user hash key (to recognise
//! an erased user's redeliveries); everything is set up once, at init.

use activation_request::ActivationRequestWebhook;

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_with_user_hash_key(ActivationRequestWebhook)
}
