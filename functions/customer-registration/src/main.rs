//! Lambda entry point: serves the webhook over the table; everything is set up once, at init.

use customer_registration::CustomerRegistrationWebhook;

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(CustomerRegistrationWebhook)
}
