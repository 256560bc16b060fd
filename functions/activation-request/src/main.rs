//! Lambda entry point: serves the webhook over the table; everything is set up once, at init.

use activation_request::ActivationWebhook;

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(ActivationWebhook)
}
