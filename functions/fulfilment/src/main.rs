//! Lambda entry point: the due top-ups, through Gigastore's API; set up once, at init.

fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::runtime()?.block_on(fulfilment::serve())
}
