//! Lambda entry point: serves the webhook over the table; everything is set up once, at init.

use activation_request::ActivationRequestWebhook;

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(ActivationRequestWebhook)
}
