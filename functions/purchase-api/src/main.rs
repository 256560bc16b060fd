//! Lambda entry point: serves the purchase API over the table, with the user hash key and the
//! callers the environment names; everything is set up once, at init.

use purchase_api::PurchaseApi;

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_http(PurchaseApi::from_env)
}
