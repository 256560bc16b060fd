//! Lambda entry point: serves the webhook over the table; everything is set up once, at init.

use esim_status::EsimStatusWebhook;

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve(EsimStatusWebhook)
}
